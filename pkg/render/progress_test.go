package render

import (
	"bytes"
	"testing"
	"time"
)

// Off a terminal the spinner must write nothing: CI logs stay clean.
func TestProgressSilentOffTerminal(t *testing.T) {
	var b bytes.Buffer
	p := StartProgress(&b, "reading 3 clusters…")
	time.Sleep(250 * time.Millisecond)
	p.Stop()
	p.Stop() // twice is harmless
	if b.Len() != 0 {
		t.Errorf("progress wrote %q to a non-terminal", b.String())
	}
}
