// Package logging sends every library's log output to the plugin's stderr,
// and only when the user asks with -v: stdout carries nothing but the
// output -o asked for, so `doctor -o json | jq .` parses whatever the
// clusters do.
//
// client-go logs through klog (for example "Unexpected error when reading
// response body" when a server cuts a body off). klog is a process-wide
// singleton: a dependency may hand it a logger of its own at init (Istio's
// pkg/log does, and writes it to stdout), so Setup replaces whatever is
// there. The standard library's log package (net/http's server and TLS
// errors, some SDKs) is routed the same way.
package logging

import (
	"flag"
	"io"
	"log"
	"strconv"
	"sync"

	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"
)

// mu serialises Setup: klog and log are globals.
var mu sync.Mutex

// Setup routes klog and the standard logger to stderr at verbosity v
// (kubectl's -v): nothing at all at 0, errors and klog.V(n) messages for
// n ≤ v above it. It may be called again (tests run several commands in one
// process); the last call wins.
func Setup(stderr io.Writer, v int) {
	mu.Lock()
	defer mu.Unlock()
	out := io.Discard
	if v > 0 && stderr != nil {
		out = &lockedWriter{w: stderr}
	}
	// klog's own flags, in a private set so that they never become the
	// plugin's flags: -v is ours, the rest keep klog away from files and
	// from os.Stderr directly (the logger below is the only way out).
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for name, value := range map[string]string{
		"v":                                strconv.Itoa(max(v, 0)),
		"logtostderr":                      "false",
		"alsologtostderr":                  "false",
		"stderrthreshold":                  "FATAL",
		"legacy_stderr_threshold_behavior": "false",
		"one_output":                       "true",
		"skip_headers":                     "false",
		"add_dir_header":                   "false",
		"log_file":                         "",
		"log_dir":                          "",
		"skip_log_headers":                 "true",
	} {
		_ = fs.Set(name, value) // a flag this klog lacks is not ours to miss
	}
	klog.SetOutput(out)
	logger := textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(out), textlogger.Verbosity(max(v, 0))))
	// WriteKlogBuffer: klog's formatted lines (header included) go to the
	// same writer, so -v output reads as kubectl's does.
	klog.SetLoggerWithOptions(logger, klog.WriteKlogBuffer(func(b []byte) { _, _ = out.Write(b) }))

	log.SetOutput(out)
	log.SetFlags(log.LstdFlags)
	log.SetPrefix("")
	strays(v > 0)
}

// lockedWriter keeps lines from concurrent goroutines whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
