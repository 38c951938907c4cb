// Package labtest lets an end-to-end test say: a lab with this scenario, run
// the built kubectl-meshfed against it, assert on its output.
//
//	func TestDoctor(t *testing.T) {
//		l := labtest.Start(t, "demo", 3)
//		out, _, code := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","))
//		...
//	}
//
// The lab is stopped by t.Cleanup (its logs are kept and named when the test
// failed), and by SIGINT/SIGTERM of the test binary.
package labtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
)

// StartTimeout bounds how long Start may take.
var StartTimeout = 3 * time.Minute

var signalOnce sync.Once

// stopOnSignal stops every lab of this test binary on SIGINT/SIGTERM before
// the binary exits, so an interrupted `go test` leaves nothing running.
func stopOnSignal() {
	signalOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		go func() {
			s := <-ch
			fmt.Fprintf(os.Stderr, "labtest: %v: stopping labs\n", s)
			lab.StopAll()
			os.Exit(2)
		}()
	})
}

// Start starts a lab of the named scenario with n clusters (0: the
// scenario's default) and stops it when the test ends. It skips the test,
// saying why, when the lab cannot run here at all (-short, not Linux, the
// binaries not built).
func Start(t testing.TB, scenario string, clusters int) *lab.Lab {
	t.Helper()
	return StartConfig(t, lab.Config{Scenario: scenario, Clusters: clusters})
}

// StartConfig is Start with a full lab.Config.
func StartConfig(t testing.TB, cfg lab.Config) *lab.Lab {
	t.Helper()
	if testing.Short() {
		t.Skip("lab: skipped in -short mode")
	}
	if runtime.GOOS != "linux" {
		t.Skipf("lab: needs Linux (have %s)", runtime.GOOS)
	}
	if cfg.Log == nil {
		cfg.Log = logWriter{t}
	}
	stopOnSignal()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	l, err := lab.Start(ctx, cfg)
	if errors.Is(err, lab.ErrNoBinaries) {
		if os.Getenv("CI") != "" {
			// CI runs `make test`, which builds them: missing is a failure.
			t.Fatalf("lab: %v", err)
		}
		t.Skipf("lab: %v (make tools builds them)", err)
	}
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			l.SetKeepWorkDir(true)
			t.Logf("lab logs kept in %s", filepath.Join(l.WorkDir(), "logs"))
		}
		if err := l.Stop(); err != nil {
			t.Errorf("lab stop: %v", err)
		}
	})
	return l
}

// RequireIsolation skips the test when the lab runs without separate
// networks (not root, no CAP_NET_ADMIN).
func RequireIsolation(t testing.TB, l *lab.Lab) {
	t.Helper()
	if !l.Isolated() {
		t.Skipf("lab: needs separate networks, but %s", l.IsolationReason())
	}
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var (
	pluginOnce sync.Once
	pluginPath string
	pluginErr  error
)

// Plugin returns the path of a kubectl-meshfed built from ./cmd/kubectl-meshfed
// once per test binary ($MESHFED_PLUGIN, when set, is used as it is).
func Plugin(t testing.TB) string {
	t.Helper()
	pluginOnce.Do(func() {
		if p := os.Getenv("MESHFED_PLUGIN"); p != "" {
			pluginPath, pluginErr = filepath.Abs(p)
			return
		}
		root, err := lab.ModuleRoot()
		if err != nil {
			pluginErr = err
			return
		}
		dir, err := os.MkdirTemp("", "meshfed-plugin-")
		if err != nil {
			pluginErr = err
			return
		}
		pluginPath = filepath.Join(dir, "kubectl-meshfed")
		// Built as `make build` and `make dist` build it (static, cgo
		// off), so that the tests run the binary users get.
		cmd := exec.Command("go", "build", "-trimpath", "-tags", "grpcnotrace", "-o", pluginPath, "./cmd/kubectl-meshfed")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			pluginErr = fmt.Errorf("go build ./cmd/kubectl-meshfed: %v\n%s", err, out)
		}
	})
	if pluginErr != nil {
		t.Fatalf("plugin: %v", pluginErr)
	}
	return pluginPath
}

// Cleanup stops the labs Shared started and removes the plugin Plugin
// built; call it from TestMain after m.Run:
//
//	func TestMain(m *testing.M) { code := m.Run(); labtest.Cleanup(); os.Exit(code) }
//
// Without it, shared labs' processes still die with the test binary and
// their namespaces are swept by the next lab.
func Cleanup() {
	sharedMu.Lock()
	for k, l := range shared {
		_ = l.Stop()
		delete(shared, k)
	}
	sharedMu.Unlock()
	if pluginPath != "" && os.Getenv("MESHFED_PLUGIN") == "" {
		_ = os.RemoveAll(filepath.Dir(pluginPath))
	}
}

var (
	sharedMu  sync.Mutex
	shared    = map[string]*lab.Lab{}
	sharedErr = map[string]error{}
)

// Shared returns a lab of the scenario with n clusters that every test of
// the test binary shares: started by the first caller, stopped by Cleanup
// (call it from TestMain). Tests must not change what others read from it
// (or put it back, as CutPath/HealPath do).
func Shared(t testing.TB, scenario string, clusters int) *lab.Lab {
	t.Helper()
	if testing.Short() {
		t.Skip("lab: skipped in -short mode")
	}
	if runtime.GOOS != "linux" {
		t.Skipf("lab: needs Linux (have %s)", runtime.GOOS)
	}
	key := fmt.Sprintf("%s/%d", scenario, clusters)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if l := shared[key]; l != nil {
		return l
	}
	if err := sharedErr[key]; err != nil {
		t.Fatalf("lab: %v", err)
	}
	stopOnSignal()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	// The lab only logs while it starts; the first test's log holds it.
	l, err := lab.Start(ctx, lab.Config{Scenario: scenario, Clusters: clusters, Log: logWriter{t}})
	if errors.Is(err, lab.ErrNoBinaries) {
		if os.Getenv("CI") != "" {
			// CI runs `make test`, which builds them: missing is a failure.
			t.Fatalf("lab: %v", err)
		}
		t.Skipf("lab: %v (make tools builds them)", err)
	}
	if err != nil {
		sharedErr[key] = err
		t.Fatalf("lab: %v", err)
	}
	shared[key] = l
	return l
}

// RunTimeout bounds one Run.
var RunTimeout = 2 * time.Minute

// Run runs the plugin with args and KUBECONFIG set to the lab's, and returns
// its output and exit code. A plugin that cannot be started fails the test.
func Run(t testing.TB, l *lab.Lab, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	return run(t, l, Plugin(t), args, nil)
}

// RunEnv is Run with extra environment variables (KEY=VALUE), which win
// over this process's own: an AWS endpoint override and test credentials.
func RunEnv(t testing.TB, l *lab.Lab, env []string, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	return run(t, l, Plugin(t), args, env)
}

// RunKubectl runs `kubectl <args>` with the lab's KUBECONFIG and the plugin's
// directory first on PATH, so `RunKubectl(t, l, "meshfed", "doctor")` goes
// through kubectl's plugin discovery as a user's would.
func RunKubectl(t testing.TB, l *lab.Lab, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	kubectl := filepath.Join(binDir(), "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("kubectl: %v (tools/build.sh)", err)
	}
	path := filepath.Dir(Plugin(t)) + string(os.PathListSeparator) + os.Getenv("PATH")
	return run(t, l, kubectl, args, []string{"PATH=" + path})
}

func run(t testing.TB, l *lab.Lab, bin string, args, env []string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+l.Kubeconfig(), "NO_COLOR=1"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", filepath.Base(bin), err)
	}
	return out.String(), errb.String(), code
}

func binDir() string {
	if d := os.Getenv("MESHFED_LAB_BIN"); d != "" {
		return d
	}
	if root, err := lab.ModuleRoot(); err == nil {
		return filepath.Join(root, ".bin")
	}
	return ".bin"
}
