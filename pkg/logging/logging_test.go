package logging

import (
	"bytes"
	"log"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

func TestSilentWithoutV(t *testing.T) {
	var buf bytes.Buffer
	Setup(&buf, 0)
	klog.Errorf("client-go: Unexpected error when reading response body")
	klog.ErrorS(nil, "structured error")
	klog.Info("info")
	log.Print("stdlib")
	klog.Flush()
	if buf.Len() != 0 {
		t.Errorf("logged without -v: %q", buf.String())
	}
}

func TestVerbosityOnTheGivenWriter(t *testing.T) {
	var buf bytes.Buffer
	Setup(&buf, 2)
	defer Setup(nil, 0)
	klog.Errorf("an error")
	klog.V(2).Info("level two")
	klog.V(3).Info("level three")
	klog.V(2).InfoS("structured", "key", "value")
	log.Print("from the standard logger")
	klog.Flush()
	out := buf.String()
	for _, want := range []string{"an error", "level two", "structured", "key=\"value\"", "from the standard logger"} {
		if !strings.Contains(out, want) {
			t.Errorf("-v 2 output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "level three") {
		t.Errorf("-v 2 logged a V(3) message:\n%s", out)
	}
}

// A dependency may install its own klog logger at init (Istio's pkg/log
// writes it to stdout): Setup must take klog back.
func TestReplacesAnotherLogger(t *testing.T) {
	var theirs, ours bytes.Buffer
	klog.SetOutput(&theirs)
	klog.LogToStderr(false)
	Setup(&ours, 1)
	defer Setup(nil, 0)
	klog.Errorf("routed")
	klog.Flush()
	if theirs.Len() != 0 || !strings.Contains(ours.String(), "routed") {
		t.Errorf("theirs %q, ours %q", theirs.String(), ours.String())
	}
}
