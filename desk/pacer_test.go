package desk

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
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
	c, _ := newTestClient(t, srv.URL, func(c *testConfig) { c.Debug = nil })
	var next atomic.Int64
	var wg sync.WaitGroup
	start := startInWindow(s.window)
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
	st := c.counts
	t.Logf("%d requests, limit %d per %v, %d workers: %v (minimum %v, %.3fx), %d 429s, stats %+v",
		n, s.limit, s.window, workers, elapsed.Round(time.Millisecond), minimum.Round(time.Millisecond),
		elapsed.Seconds()/minimum.Seconds(), s.hit.Load(), st)
	if st.RateLimited.Load() != s.hit.Load() {
		t.Errorf("counts.RateLimited = %d, server sent %d 429s", st.RateLimited.Load(), s.hit.Load())
	}
	return elapsed, minimum
}

// TestPacerWindowedLimit drives four workers against a real windowed limit: the
// pacer must use nearly the whole budget with hardly any 429s. A whole-second Reset
// bounds a window's end only to a second; the pacer's timed last call halves that, so
// each new window may start up to half a second late, never early.
func TestPacerWindowedLimit(t *testing.T) {
	tests := []struct {
		name   string
		limit  int
		window time.Duration
		style  resetStyle
		n      int
		late   time.Duration // allowed per window after the first
	}{
		{"millisecond reset", 10, 200 * time.Millisecond, resetMillis, 100, 50 * time.Millisecond},
		{"whole seconds rounded up", 10, time.Second, resetCeil, 40, 650 * time.Millisecond},
		{"epoch seconds", 20, time.Second, resetEpoch, 80, 150 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each has its own server and client; they only wait
			s := &limitServer{limit: tt.limit, window: tt.window, style: tt.style}
			elapsed, minimum := runPaced(t, s, tt.n, 4)
			if hit := s.hit.Load(); hit > 3 {
				t.Errorf("%d 429s, want at most 3", hit)
			}
			windows := (tt.n + tt.limit - 1) / tt.limit
			if most := minimum + time.Duration(windows-1)*tt.late; elapsed > most {
				t.Errorf("took %v, more than %v (minimum %v)", elapsed, most, minimum)
			}
		})
	}
}

// startInWindow waits, when less than a fifth of the current window is left, for the
// next one, and returns the time to start from: a run whose first window is a few
// milliseconds long cannot use that window, whatever the theoretical minimum says.
func startInWindow(window time.Duration) time.Time {
	now := time.Now()
	if end := now.Truncate(window).Add(window); end.Sub(now) < window/5 {
		time.Sleep(end.Sub(now))
	}
	return time.Now()
}

// FuzzRateHeaders: whatever Desk puts in its rate-limit headers, parsing never panics,
// a 429's wait is at least minRateLimitWait, and a parsed window has a sane resolution.
func FuzzRateHeaders(f *testing.F) {
	for _, seed := range [][3]string{
		{"19", "7", ""}, {"0", "1.250", "2"}, {"0", "1796193653", ""}, {"-1", "NaN", "Inf"},
		{"5", "1e300", "1e300"}, {"5", "0.0000000001", "-3"}, {"", "", "Wed, 21 Oct 2015 07:28:00 GMT"},
		{"3", "99999999999999999999", "0.05"}, {"3", "1.", "."},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, remaining, reset, retryAfterValue string) {
		h := http.Header{}
		h.Set("X-Rate-Limit-Remaining", remaining)
		h.Set("X-Rate-Limit-Reset", reset)
		h.Set("Retry-After", retryAfterValue)
		if rl, ok := parseRateHeaders(h, now); ok && (rl.remaining < 0 || rl.step <= 0 || rl.step > time.Second) {
			t.Fatalf("parsed %+v", rl)
		}
		if d := retryAfter(h, now); d < minRateLimitWait {
			t.Fatalf("wait %v", d)
		}
	})
}
