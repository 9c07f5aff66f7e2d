// Package desktime holds the desk client's clock and backoff knobs. Tests set them to
// run retries, 429 waits and pacing without waiting; they live here, in an internal
// package, so that they are not part of desk's public API.
package desktime

import (
	"context"
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
}
