package desk

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pacer spaces the Desk API calls of one Client by Desk's own bookkeeping: every
// answer's X-Rate-Limit-Remaining and -Reset say how many calls the current window
// still allows and when it ends. A call may start while remaining minus the calls in
// flight is positive; when that budget is spent, everyone waits for the reset plus a
// small margin. A new window's budget is unknown until Desk answers, so its first call
// goes alone. After a 429 nobody starts before its Retry-After (or reset) has passed.
//
// A Reset in whole seconds only bounds the window's end to a second: every answer
// says it ends after sent+Reset-1s and by received+Reset. Waiting for the later bound
// would lose up to a second per window, so the window's last call, which would
// otherwise go at once and leave everyone waiting anyway, goes at the moment whose
// answer halves that interval. No call is ever sent early, so this costs no 429.
type pacer struct {
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error // nil: real timers, woken by answers
	announce func(d time.Duration, why string)

	mu        sync.Mutex
	seen      bool   // some answer arrived
	limited   bool   // Desk sends rate-limit headers
	known     bool   // remaining and the bounds describe the current window
	window    uint64 // bumped when a window ends, so late answers from an old one are ignored
	remaining int
	lo, hi    time.Time     // the current window ends after lo and by hi
	step      time.Duration // resolution of Reset (1s for whole seconds)
	margin    time.Duration // grows if Desk turns out to round Reset down
	inFlight  int
	probing   bool          // the first call of a window is out
	ended     bool          // the last window ended by time, not by a 429
	blocked   time.Time     // after a 429: nobody starts before this
	announced time.Time     // the latest wait announced, so concurrent waiters say it once
	changed   chan struct{} // closed and replaced whenever an answer arrives
}

// ticket is what acquire hands out and release takes back.
type ticket struct {
	window     uint64
	sent       time.Time
	probe      bool // the first call of a window
	afterReset bool // ... sent because the previous window's reset time passed
	last       bool // the last call the window allows, sent alone
}

// resetMargin is added to Desk's reset: its clock and ours differ by a little.
const resetMargin = 20 * time.Millisecond

// acquire waits until a call may start, or ctx ends, or the wait would be longer
// than maxWait (a *longWaitError).
func (p *pacer) acquire(ctx context.Context) (ticket, error) {
	for {
		if err := ctx.Err(); err != nil {
			return ticket{}, err
		}
		p.mu.Lock()
		now := p.now()
		end := p.hi.Add(p.margin + resetMargin)
		if p.known && !now.Before(end) {
			p.known, p.ended = false, true
			p.window++
		}
		var until time.Time // zero: wait for an answer
		why := "until its rate-limit window resets"
		switch budget := p.remaining - p.inFlight; {
		case now.Before(p.blocked):
			until, why = p.blocked, "after a 429 Too Many Requests"
		case !p.seen || (p.limited && !p.known):
			if !p.probing {
				p.probing = true
				return p.start(ticket{window: p.window, sent: now, probe: true, afterReset: p.ended}), nil
			}
		case !p.limited || budget > 1:
			return p.start(ticket{window: p.window, sent: now}), nil
		case budget == 1 && p.inFlight > 0:
			// The last call goes alone (below), so that its answer is not confused
			// with another's: wait for theirs.
		case budget == 1:
			if until = p.splitTime(now); !until.After(now) {
				return p.start(ticket{window: p.window, sent: now, last: true}), nil
			}
		default:
			until = end
		}
		wait := until.Sub(now)
		if wait > maxWait {
			p.mu.Unlock()
			return ticket{}, &longWaitError{wait: wait, why: why}
		}
		if until.After(p.announced) && wait > announceWait {
			p.announced = until
			p.announce(wait, "Desk's rate limit: waiting "+why)
		}
		changed := p.changed
		p.mu.Unlock()

		if wait > 0 && p.sleep != nil {
			if err := p.sleep(ctx, wait); err != nil {
				return ticket{}, err
			}
			continue
		}
		var fired <-chan time.Time
		var timer *time.Timer
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

// splitTime is when the window's last call should go: a whole number of steps
// before the middle of (lo, hi], so that its Reset tells on which side the end
// lies. It is now when the interval is already narrow.
func (p *pacer) splitTime(now time.Time) time.Time {
	if p.hi.Sub(p.lo) < 50*time.Millisecond {
		return now
	}
	// The quarter step of slack keeps the target from slipping a whole step when
	// the timer fires a moment late.
	mid := p.lo.Add(p.hi.Sub(p.lo) / 2)
	return mid.Add(-(mid.Sub(now) + p.step/4) / p.step * p.step)
}

// start hands out tk; p.mu is held and released here.
func (p *pacer) start(tk ticket) ticket {
	defer p.mu.Unlock()
	p.inFlight++
	return tk
}

// release records the answer to a call started with tk (status 0: none came) and,
// for a 429, returns how long Desk asked to wait.
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
	current := tk.window == p.window
	rl, ok := parseRateHeaders(h, now)
	lo, hi := rl.resetAt, rl.resetAt
	if !rl.epoch { // Reset counted from when Desk served the call, between sent and now
		lo = tk.sent.Add(rl.resetAt.Sub(now) - rl.step)
	}
	switch {
	case !current: // served in a window that is over; says nothing about this one
	case !ok:
		p.limited = p.limited && p.known // a first answer without headers: Desk does not limit
	case !p.known:
		p.limited, p.known, p.ended = true, true, false
		p.remaining, p.lo, p.hi, p.step = rl.remaining, lo, hi, rl.step
	case tk.last && rl.remaining >= p.remaining:
		// It went alone, so only a new window shows as much budget as before:
		// this one ended before now, and has nothing left.
		p.hi, p.remaining = minTime(p.hi, now), 0
		p.lo = minTime(p.lo, p.hi)
	default: // answers come back out of order; within a window the lowest is the latest
		p.remaining = min(p.remaining, rl.remaining)
		p.lo, p.hi = maxTime(p.lo, lo), minTime(p.hi, hi)
		p.lo = minTime(p.lo, p.hi) // a call served in the next window says nothing of this one
	}
	if status != http.StatusTooManyRequests {
		return 0
	}
	if ok && tk.afterReset && current {
		// The first call after the reset we waited for met the old window: Desk
		// rounds its Reset down. Wait one step of its resolution longer from now on.
		p.margin = max(p.margin, rl.step)
	}
	wait := retryAfter(h, now)
	if until := now.Add(wait); until.After(p.blocked) {
		p.blocked = until
	}
	if current {
		p.known, p.ended = false, false
		p.window++
	}
	return wait
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// rateLimit is one answer's rate-limit headers.
type rateLimit struct {
	remaining int
	resetAt   time.Time
	step      time.Duration // resolution of the Reset value: 1s for whole seconds
	epoch     bool          // Reset was a Unix time, not seconds from now
}

// rateHeader returns the first present value among X-Rate-Limit-NAME and X-RateLimit-NAME.
func rateHeader(h http.Header, name string) string {
	if v := h.Get("X-Rate-Limit-" + name); v != "" {
		return v
	}
	return h.Get("X-RateLimit-" + name)
}

// parseRateHeaders reads Remaining and Reset.
func parseRateHeaders(h http.Header, now time.Time) (rateLimit, bool) {
	rem, err := strconv.Atoi(strings.TrimSpace(rateHeader(h, "Remaining")))
	if err != nil || rem < 0 {
		return rateLimit{}, false
	}
	v := strings.TrimSpace(rateHeader(h, "Reset"))
	t, epoch, ok := parseReset(v, now)
	if !ok {
		return rateLimit{}, false
	}
	step := time.Second
	if _, frac, found := strings.Cut(v, "."); found {
		step = max(time.Second/time.Duration(math.Pow10(min(len(frac), 9))), time.Nanosecond)
	}
	return rateLimit{remaining: rem, resetAt: t, step: step, epoch: epoch}, true
}

// parseReset reads X-Rate-Limit-Reset: seconds until the window ends (fractions
// allowed), or a Unix time when the number is that large (> 1e9).
func parseReset(v string, now time.Time) (t time.Time, epoch, ok bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e12 {
		return time.Time{}, false, false
	}
	if f > 1e9 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), true, true
	}
	return now.Add(time.Duration(f * float64(time.Second))), false, true
}

// minRateLimitWait keeps a server that says "Retry-After: 0" from being hammered.
const minRateLimitWait = 100 * time.Millisecond

// retryAfter is how long a 429 asks us to wait: Retry-After (seconds or an HTTP
// date), else until the rate-limit reset, else one second; at least 100ms.
func retryAfter(h http.Header, now time.Time) time.Duration {
	d := time.Second
	ra := strings.TrimSpace(h.Get("Retry-After"))
	if f, err := strconv.ParseFloat(ra, 64); err == nil && !math.IsNaN(f) {
		d = time.Duration(min(f, 1e9) * float64(time.Second))
	} else if t, err := http.ParseTime(ra); err == nil {
		d = t.Sub(now)
	} else if t, _, ok := parseReset(strings.TrimSpace(rateHeader(h, "Reset")), now); ok {
		d = t.Sub(now)
	}
	return max(d, minRateLimitWait)
}

// longWaitError is a wait desksync refuses to sit through (SECURITY.md).
type longWaitError struct {
	wait time.Duration
	why  string
}

func (e *longWaitError) Error() string {
	return fmt.Sprintf("Desk's rate limit asks to wait %v %s, longer than the %v desksync waits", e.wait.Round(time.Second), e.why, maxWait)
}
