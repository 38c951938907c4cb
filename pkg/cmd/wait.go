package cmd

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// waitInterval is the pause between two runs of doctor --wait: long enough
// for istiod to push a change, short next to the minutes a fix takes.
const waitInterval = 5 * time.Second

// Wait is how to re-run a diagnosis until it is done (doctor --wait, fix
// --apply --wait).
type Wait struct {
	// For bounds the waiting: no run starts after the first run's start +
	// For. A run under way ends within its own deadlines (README
	// "Deadlines"), so the wait ends within For + one run.
	For time.Duration
	// Interval is the pause between the end of a run and the next.
	Interval time.Duration
	// Changes, when set (a terminal), gets what changed between runs.
	Changes io.Writer
	Styles  render.Styles
}

// Until runs run until done says its report is done, or until the wait is
// over, and returns the last run's report (the one to show). An error of a
// run ends the wait with that error; so does ctx.
func (w Wait) Until(ctx context.Context, run func(context.Context) (*checks.Report, error), done func(*checks.Report) bool) (*checks.Report, error) {
	start := time.Now()
	interval := w.Interval
	if interval <= 0 {
		interval = waitInterval
	}
	var prev *checks.Report
	for attempt := 1; ; attempt++ {
		r, err := run(ctx)
		if err != nil {
			return nil, err
		}
		if w.Changes != nil && prev != nil {
			fmt.Fprintf(w.Changes, "run %d, %s after the first:\n", attempt, time.Since(start).Round(time.Second))
			_ = render.Changes(w.Changes, prev, r, w.Styles)
		}
		left := w.For - time.Since(start)
		if done(r) || left < interval {
			if w.Changes != nil && !done(r) {
				fmt.Fprintf(w.Changes, "still not healthy after %s (%d runs)\n", time.Since(start).Round(time.Second), attempt)
			}
			return r, nil
		}
		if w.Changes != nil {
			t := render.Plural(int(left/time.Second), "second", "seconds")
			fmt.Fprintf(w.Changes, "not healthy yet; next run in %s (%s left)\n", interval, t)
		}
		prev = r
		select {
		case <-ctx.Done():
			return r, nil
		case <-time.After(interval):
		}
	}
}
