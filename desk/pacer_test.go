package desk

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// resetStyle is how a limitServer writes X-Rate-Limit-Reset.
type resetStyle int

const (
	resetMillis resetStyle = iota // seconds with three decimals: "0.137"
	resetCeil                     // whole seconds, rounded up (like the emulator)
	resetEpoch                    // the window's end as whole Unix seconds
)

// limitServer is a stand-in for Desk's rate limiter: fixed windows aligned to
// multiples of window, limit requests each, the X-Rate-Limit-* headers on every
// answer and 429 with Retry-After beyond the limit.
type limitServer struct {
	limit  int
	window time.Duration
	style  resetStyle

	mu          sync.Mutex
	start       time.Time
	count       int
	served, hit atomic.Int64
}

func (s *limitServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.mu.Lock()
	if ws := now.Truncate(s.window); !ws.Equal(s.start) {
		s.start, s.count = ws, 0
	}
	allowed := s.count < s.limit
	if allowed {
		s.count++
	}
	remaining, end := s.limit-s.count, s.start.Add(s.window)
	s.mu.Unlock()
	left := end.Sub(now)
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(s.limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	ceil := int64(math.Ceil(left.Seconds()))
	switch s.style {
	case resetMillis:
		h.Set("X-Rate-Limit-Reset", strconv.FormatFloat(left.Seconds(), 'f', 3, 64))
	case resetCeil:
		h.Set("X-Rate-Limit-Reset", strconv.FormatInt(ceil, 10))
	case resetEpoch:
		h.Set("X-Rate-Limit-Reset", strconv.FormatInt(end.Unix(), 10))
	}
	if !allowed {
		s.hit.Add(1)
		h.Set("Retry-After", strconv.FormatInt(max(ceil, 1), 10))
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"errors":[{"code":"rate_limited","detail":"slow down"}]}`)
		return
	}
	s.served.Add(1)
	io.WriteString(w, `{"file":{"id":1,"state":"active"}}`)
}

// runPaced makes n GetFile calls from workers goroutines and returns the elapsed
// time and the theoretical minimum for the window grid the run started in.
func runPaced(t *testing.T, s *limitServer, n, workers int) (elapsed, minimum time.Duration) {
	t.Helper()
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.Debug = nil })
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := c.GetFile(context.Background(), 1); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	// The first window is whatever is left of the one the run started in; the last
	// needs no time at all once it begins.
	windows := (n + s.limit - 1) / s.limit
	firstEnd := start.Truncate(s.window).Add(s.window)
	minimum = firstEnd.Sub(start) + time.Duration(windows-2)*s.window
	if got := s.served.Load(); got != int64(n) {
		t.Errorf("server served %d requests, want %d", got, n)
	}
	st := c.Stats()
	t.Logf("%d requests, limit %d per %v, %d workers: %v (minimum %v, %.3fx), %d 429s, stats %+v",
		n, s.limit, s.window, workers, elapsed.Round(time.Millisecond), minimum.Round(time.Millisecond),
		elapsed.Seconds()/minimum.Seconds(), s.hit.Load(), st)
	if st.RateLimited != s.hit.Load() {
		t.Errorf("Stats().RateLimited = %d, server sent %d 429s", st.RateLimited, s.hit.Load())
	}
	return elapsed, minimum
}

// TestPacerWindowedLimit drives four workers against a real windowed limit and
// asserts the pacer uses nearly the whole budget with hardly any 429s.
func TestPacerWindowedLimit(t *testing.T) {
	tests := []struct {
		name      string
		limit     int
		window    time.Duration
		style     resetStyle
		n         int
		max429    int64
		maxFactor float64
	}{
		{"millisecond reset", 10, 200 * time.Millisecond, resetMillis, 200, 3, 1.15},
		{"whole seconds rounded up", 20, time.Second, resetCeil, 240, 6, 1.15},
		{"epoch seconds", 20, time.Second, resetEpoch, 240, 6, 1.15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each has its own server and client; they only wait
			s := &limitServer{limit: tt.limit, window: tt.window, style: tt.style}
			elapsed, minimum := runPaced(t, s, tt.n, 4)
			if hit := s.hit.Load(); hit > tt.max429 {
				t.Errorf("%d 429s, want at most %d", hit, tt.max429)
			}
			if f := elapsed.Seconds() / minimum.Seconds(); f > tt.maxFactor {
				t.Errorf("took %v, %.3fx the minimum %v; want at most %.2fx", elapsed, f, minimum, tt.maxFactor)
			}
		})
	}
}

// TestPacerDeskScale is the acceptance figure: 600 requests under 20 per 2 s from
// 4 workers. It takes a minute, so it runs only with DESK_PACER_SCALE=1.
func TestPacerDeskScale(t *testing.T) {
	if os.Getenv("DESK_PACER_SCALE") == "" {
		t.Skip("set DESK_PACER_SCALE=1 to run (takes about a minute per style)")
	}
	for _, style := range []resetStyle{resetCeil, resetEpoch, resetMillis} {
		t.Run(fmt.Sprint(style), func(t *testing.T) {
			s := &limitServer{limit: 20, window: 2 * time.Second, style: style}
			elapsed, _ := runPaced(t, s, 600, 4)
			if f := elapsed.Seconds() / 60; f > 1.15 {
				t.Errorf("took %v, %.3fx of 60 s", elapsed, f)
			}
			if hit := s.hit.Load(); hit > 6 {
				t.Errorf("%d 429s", hit)
			}
		})
	}
}
