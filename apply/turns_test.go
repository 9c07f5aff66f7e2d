package apply

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestTurns checks the order in which turns are handed out: free turns at once, then,
// as turns come back, waiting actions that resume after a save before actions not yet
// started, each group in arrival order; a waiter whose context ends leaves the queue.
func TestTurns(t *testing.T) {
	tests := []struct {
		name string
		// waiters queue in this order once both turns are taken: r = resuming,
		// n = new, c = new with a context cancelled while it waits.
		waiters string
		want    []int // the order in which the waiters get a turn
	}{
		{"arrival order", "nnn", []int{0, 1, 2}},
		{"resuming first", "nrnr", []int{1, 3, 0, 2}},
		{"cancelled leaves the queue", "ncr", []int{2, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTurns(2)
			for range 2 {
				if err := ts.take(context.Background(), false); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			var got []int
			var wg sync.WaitGroup
			var cancels []context.CancelFunc
			for i, kind := range tt.waiters {
				ctx, cancel := context.WithCancel(context.Background())
				cancels = append(cancels, cancel)
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := ts.take(ctx, kind == 'r')
					switch {
					case kind == 'c' && !errors.Is(err, context.Canceled):
						t.Errorf("waiter %d: take = %v, want context.Canceled", i, err)
					case kind != 'c' && err != nil:
						t.Errorf("waiter %d: take = %v", i, err)
					case err == nil:
						mu.Lock()
						got = append(got, i)
						mu.Unlock()
					}
				}()
				waitFor(t, func() bool { ts.mu.Lock(); defer ts.mu.Unlock(); return len(ts.waiting) == i+1 })
			}
			for i, kind := range tt.waiters {
				if kind == 'c' {
					cancels[i]()
					n := len(tt.waiters) - 1
					waitFor(t, func() bool { ts.mu.Lock(); defer ts.mu.Unlock(); return len(ts.waiting) == n })
				}
			}
			// Hand the turns back one at a time, so that the order is observable.
			for n := range tt.want {
				ts.give()
				waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == n+1 })
			}
			wg.Wait()
			if !slices.Equal(got, tt.want) {
				t.Errorf("turns went to %v, want %v", got, tt.want)
			}
			ts.give()
			ts.give()
			if ts.free != 2 || len(ts.waiting) != 0 {
				t.Errorf("afterwards %d free and %d waiting, want 2 and 0", ts.free, len(ts.waiting))
			}
			for _, c := range cancels {
				c()
			}
		})
	}
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTurnsWhenIdle checks the signal that ends a commit delay: none while no turn is
// held, and a channel that closes when the last held turn comes back, not before,
// and not when a returned turn goes straight to a waiter.
func TestTurnsWhenIdle(t *testing.T) {
	ts := newTurns(2)
	if ts.whenIdle() != nil {
		t.Fatal("whenIdle with no turn held: want nil (nothing to wait for)")
	}
	ctx := context.Background()
	for range 2 {
		if err := ts.take(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	idle := ts.whenIdle()
	closed := func() bool {
		select {
		case <-idle:
			return true
		default:
			return false
		}
	}
	got := make(chan struct{})
	go func() {
		if err := ts.take(ctx, true); err == nil {
			close(got)
		}
	}()
	waitFor(t, func() bool { ts.mu.Lock(); defer ts.mu.Unlock(); return len(ts.waiting) == 1 })
	ts.give() // handed to the waiter: still two held
	<-got
	if closed() {
		t.Fatal("idle closed while both turns were held")
	}
	ts.give()
	if closed() {
		t.Fatal("idle closed with one turn still held")
	}
	ts.give()
	if !closed() {
		t.Fatal("idle still open after the last turn came back")
	}
	if ts.whenIdle() != nil {
		t.Fatal("whenIdle after all turns came back: want nil")
	}
}
