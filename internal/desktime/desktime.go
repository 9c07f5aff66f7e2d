// Package desktime holds the desk client's clock and backoff knobs and its request
// counters. Tests set the knobs to run retries, 429 waits and pacing without waiting,
// and read the counters to check what was sent; they live here, in an internal
// package, so that they are not part of desk's public API.
package desktime

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Knobs replace the client's defaults where set; the zero value changes nothing.
type Knobs struct {
	// Clock and Sleep replace time.Now and a context-aware sleep for backoff, 429
	// waits and pacing.
	Clock func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a random duration in [0, max]; default uniform (full jitter).
	Jitter func(max time.Duration) time.Duration
	// BackoffBase and BackoffMax shape the exponential backoff: attempt n waits up to
	// min(BackoffMax, BackoffBase·2^(n-1)). Defaults 500ms and 30s.
	BackoffBase, BackoffMax time.Duration
	// Counts, if set, is added to by the client; default a private one.
	Counts *Counts
}

// Counts are what a client has sent and received. It is safe for concurrent use.
type Counts struct {
	Requests    atomic.Int64 // HTTP requests sent (Desk and S3, every attempt)
	Uploads     atomic.Int64 // S3 uploads that succeeded
	RateLimited atomic.Int64 // 429 answers received
	Retries     atomic.Int64 // retries after a retryable failure (429 waits not included)
}

// String lists the counts, for test failures and logs.
func (c *Counts) String() string {
	return fmt.Sprintf("{Requests:%d Uploads:%d RateLimited:%d Retries:%d}",
		c.Requests.Load(), c.Uploads.Load(), c.RateLimited.Load(), c.Retries.Load())
}
