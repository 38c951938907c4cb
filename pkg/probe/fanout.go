package probe

import (
	"context"
	"time"
)

// backstopGrace is how long past the deadline fanOut waits for work that
// has not come back before it gives it up.
const backstopGrace = 100 * time.Millisecond

// fanOut runs work(ctx, i) for every i in [0, n) at once, each under a
// context that ends at its start + each or at deadline, whichever is first,
// and returns what came back: got[i] is nil for work that had not returned
// by the deadline (plus backstopGrace). Work honours its context; the
// backstop is for what takes none (a dialer, a kubeconfig exec plugin), so
// that nothing a server does holds the run past its deadline. Work still
// running then has its context ended and writes to nothing anyone reads.
func fanOut[T any](ctx context.Context, deadline time.Time, each time.Duration, n int, work func(ctx context.Context, i int) T) []*T {
	got := make([]*T, n)
	if n == 0 {
		return got
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	type result struct {
		i int
		v T
	}
	ch := make(chan result, n) // buffered: late work never blocks
	for i := range n {
		go func() {
			wctx, wcancel := context.WithTimeout(ctx, each)
			defer wcancel()
			ch <- result{i, work(wctx, i)}
		}()
	}
	backstop := time.NewTimer(time.Until(deadline) + backstopGrace)
	defer backstop.Stop()
	for range n {
		select {
		case r := <-ch:
			got[r.i] = &r.v
		case <-backstop.C:
			return got
		}
	}
	return got
}
