package render

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress is a one-line spinner for stderr. It draws only on a terminal:
// redirected stderr (CI logs, files) must not fill up with frames.
type Progress struct {
	w    io.Writer
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// StartProgress starts a spinner with msg on w when w is a terminal; on
// anything else it does nothing. Call Stop before writing to w again.
func StartProgress(w io.Writer, msg string) *Progress {
	p := &Progress{w: w, stop: make(chan struct{})}
	if !IsTerminal(w) {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(w, "\r%s %s", spinnerFrames[i%len(spinnerFrames)], msg)
			select {
			case <-p.stop:
				fmt.Fprint(w, "\r\x1b[K") // clear the line the spinner used
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// Stop ends the spinner and clears its line. It is safe to call more than once.
func (p *Progress) Stop() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}
