package desk

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pacer spaces Desk API requests from all goroutines of one Client so that they use
// the rate-limit budget fully but rarely run into a 429.
//
// It trusts Desk's own bookkeeping rather than guessing: every answer's
// X-Rate-Limit-Remaining and -Reset say how many requests the current window still
// allows and when it ends. A request may start while remaining minus the requests
// already in flight is positive; when that budget is spent, everyone waits for the
// reset. Once a window's reset has passed, the budget of the new window is unknown
// until Desk answers again, so a single probe request goes first and the others
// follow its answer — that costs one round trip per window instead of a burst of 429s
// when the reset estimate is slightly early.
type pacer struct {
	now       func() time.Time
	fakeSleep bool // tests: wait with sleep, not timers
	sleep     func(ctx context.Context, d time.Duration) error

	mu           sync.Mutex
	seen         bool // some Desk answer arrived
	limited      bool // Desk sends rate-limit headers
	remaining    int
	resetAt      time.Time
	inFlight     int
	probing      bool
	blockedUntil time.Time     // after a 429: nobody starts before this
	changed      chan struct{} // closed and replaced whenever an answer arrives
}

// ticket is what acquire hands out and release takes back.
type ticket struct{ probe bool }

func newPacer(now func() time.Time, fakeSleep bool, sleep func(context.Context, time.Duration) error) *pacer {
	return &pacer{now: now, fakeSleep: fakeSleep, sleep: sleep, changed: make(chan struct{})}
}

// acquire waits until a request may start, or ctx ends.
func (p *pacer) acquire(ctx context.Context) (ticket, error) {
	for {
		if err := ctx.Err(); err != nil {
			return ticket{}, err
		}
		p.mu.Lock()
		now := p.now()
		var wait time.Duration // > 0: wait this long (or for news); 0: wait for news
		switch {
		case now.Before(p.blockedUntil):
			wait = p.blockedUntil.Sub(now)
		case !p.seen || (p.limited && !now.Before(p.resetAt)):
			// Nothing known yet, or the known window is over: one probe finds out.
			if !p.probing {
				p.probing = true
				p.inFlight++
				p.mu.Unlock()
				return ticket{probe: true}, nil
			}
		case !p.limited || p.remaining-p.inFlight > 0:
			p.inFlight++
			p.mu.Unlock()
			return ticket{}, nil
		default:
			wait = p.resetAt.Sub(now)
		}
		changed := p.changed
		p.mu.Unlock()

		if wait > 0 && p.fakeSleep {
			if err := p.sleep(ctx, wait); err != nil {
				return ticket{}, err
			}
			continue
		}
		var timer *time.Timer
		var fired <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			fired = timer.C
		}
		select {
		case <-fired:
		case <-changed:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// release records the answer to a request started with tk (status 0: none came)
// and, for a 429, returns how long to wait before trying again.
func (p *pacer) release(tk ticket, status int, h http.Header) time.Duration {
	p.mu.Lock()
	defer func() {
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}()
	p.inFlight--
	if tk.probe {
		p.probing = false
	}
	if status == 0 {
		return 0
	}
	now := p.now()
	p.seen = true
	if rem, reset, ok := parseRateHeaders(h, now); ok {
		p.limited = true
		newWindow := !now.Before(p.resetAt) || (rem > p.remaining && reset.After(p.resetAt))
		if newWindow {
			p.remaining, p.resetAt = rem, reset
		} else {
			p.remaining = min(p.remaining, rem)
			if reset.After(p.resetAt) {
				p.resetAt = reset
			}
		}
	}
	if status != http.StatusTooManyRequests {
		return 0
	}
	wait := rateLimitWait(h, now)
	until := now.Add(wait)
	if until.After(p.blockedUntil) {
		p.blockedUntil = until
	}
	p.remaining = 0
	if p.limited && until.After(p.resetAt) {
		p.resetAt = until
	}
	return wait
}

// header returns the first present value among X-Rate-Limit-NAME and X-RateLimit-NAME.
func rateHeader(h http.Header, name string) string {
	if v := h.Get("X-Rate-Limit-" + name); v != "" {
		return v
	}
	return h.Get("X-RateLimit-" + name)
}

// parseRateHeaders reads Remaining and Reset. Reset is seconds until the window ends
// (fractions allowed), or a UTC epoch time when the number is that large (> 1e9).
func parseRateHeaders(h http.Header, now time.Time) (remaining int, resetAt time.Time, ok bool) {
	rem, err := strconv.Atoi(strings.TrimSpace(rateHeader(h, "Remaining")))
	if err != nil || rem < 0 {
		return 0, time.Time{}, false
	}
	resetAt, ok = parseReset(rateHeader(h, "Reset"), now)
	return rem, resetAt, ok
}

func parseReset(v string, now time.Time) (time.Time, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return time.Time{}, false
	}
	var t time.Time
	if f > 1e9 {
		sec, frac := math.Modf(f)
		t = time.Unix(int64(sec), int64(frac*1e9))
	} else {
		t = now.Add(time.Duration(f * float64(time.Second)))
	}
	switch {
	case t.Before(now):
		t = now
	case t.Sub(now) > maxRateLimitWait:
		t = now.Add(maxRateLimitWait)
	}
	return t, true
}

// minRateLimitWait keeps a server that says "Retry-After: 0" (or a reset already
// passed, after rounding) from being hammered.
const minRateLimitWait = 100 * time.Millisecond

// rateLimitWait is how long a 429 asks us to wait: Retry-After (seconds or an HTTP
// date), else the rate-limit reset, else one second; within [100ms, 5min].
func rateLimitWait(h http.Header, now time.Time) time.Duration {
	d := time.Second
	if ra := strings.TrimSpace(h.Get("Retry-After")); ra != "" {
		if f, err := strconv.ParseFloat(ra, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			d = time.Duration(min(f, maxRateLimitWait.Seconds()) * float64(time.Second))
		} else if t, err := http.ParseTime(ra); err == nil {
			d = t.Sub(now)
		}
	} else if t, ok := parseReset(rateHeader(h, "Reset"), now); ok {
		d = t.Sub(now)
	}
	return min(max(d, minRateLimitWait), maxRateLimitWait)
}
