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
// It trusts Desk's own bookkeeping rather than guessing a rate: every answer's
// X-Rate-Limit-Remaining and -Reset say how many requests the current window still
// allows and when it ends. A request may start while remaining minus the requests
// already in flight is positive; when that budget is spent, everyone waits for the
// next window. The budget of a new window is unknown until Desk answers, so a single
// probe request goes first and the others follow its answer: one round trip per
// window instead of a burst of 429s when the reset estimate is early.
//
// Reset usually comes in whole seconds. With a one-minute window that is precise
// enough, but with short windows a rounded-up Reset would make every window start
// up to a second late (and a rounded-down one early, into a 429). So when Reset is
// coarse the pacer also learns the window's phase: it keeps bounds [lo, hi) on how
// far its estimate lies past the true reset and probes earlier by bisection — a
// probe that lands in the new window raises lo, one that lands in the old window (a
// 429) lowers hi. After a few windows the estimate is within tens of milliseconds.
type pacer struct {
	now       func() time.Time
	fakeSleep bool // tests: wait with sleep, not timers
	sleep     func(ctx context.Context, d time.Duration) error

	mu           sync.Mutex
	seen         bool // some Desk answer arrived
	limited      bool // Desk sends rate-limit headers
	epoch        uint64
	remaining    int
	resetAt      time.Time     // Desk's reset for the current window, from its first answer
	prevResetAt  time.Time     // the previous window's
	gran         time.Duration // resolution of that Reset value
	nextProbe    time.Time     // when to probe for the next window
	early        time.Duration // nextProbe = resetAt - early
	lo, hi       time.Duration // bounds on resetAt minus the true reset (coarse Reset only)
	lastRTT      time.Duration
	inFlight     int
	probing      bool
	probeSent    time.Time
	blockedUntil time.Time     // after a 429: nobody starts before this
	changed      chan struct{} // closed and replaced whenever an answer arrives
}

// ticket is what acquire hands out and release takes back.
type ticket struct {
	probe bool
	epoch uint64
	sent  time.Time
}

// coarseReset is the Reset resolution from which the phase is learned.
const coarseReset = 100 * time.Millisecond

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
		case !p.seen || (p.limited && !now.Before(p.nextProbe)):
			// Nothing known yet, or the known window is over: one probe finds out.
			if !p.probing {
				p.probing = true
				p.probeSent = now
				p.inFlight++
				tk := ticket{probe: true, epoch: p.epoch, sent: now}
				p.mu.Unlock()
				return tk, nil
			}
		case !p.limited || p.remaining-p.inFlight > 0:
			p.inFlight++
			tk := ticket{epoch: p.epoch, sent: now}
			p.mu.Unlock()
			return tk, nil
		default:
			wait = p.nextProbe.Sub(now)
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
	limited := status == http.StatusTooManyRequests
	rl, ok := parseRateHeaders(h, now)
	current := tk.epoch == p.epoch
	if ok {
		// A new window shows more budget, a later reset, and cannot be seen before
		// the current window could have ended: a delayed answer from this window
		// also shows more budget than the latest and a reset shifted by its delay.
		earliestEnd := p.resetAt.Add(-max(p.hi, 0) - p.gran - 5*time.Millisecond)
		fresh := rl.remaining > p.remaining && !rl.resetAt.Before(p.resetAt.Add(p.gran/2)) && !now.Before(earliestEnd)
		switch {
		case !p.limited:
			p.limited = true
			p.adopt(rl, now, tk, false)
		case tk.probe && current && !limited && rl.remaining > p.remaining:
			p.adopt(rl, now, tk, true)
		case tk.probe && current && p.gran >= coarseReset:
			// The probe reached the old window: it went too early.
			p.remaining = min(p.remaining, rl.remaining)
			p.tooEarly(now)
			return p.blockedUntil.Sub(now)
		case fresh:
			// A new window seen outside a probe: its phase tells us nothing.
			p.adopt(rl, now, tk, false)
		case current || p.inCurrentWindow(rl.resetAt):
			// (An answer to a request sent before this window was known counts
			// when it was served in this window, else the budget is overcounted.)
			p.remaining = min(p.remaining, rl.remaining)
			if p.gran < coarseReset && rl.resetAt.Add(rl.gran).After(p.resetAt) {
				// Still the old window past its announced end: follow the server.
				p.resetAt = rl.resetAt.Add(rl.gran)
				p.plan()
			}
		}
	}
	if !limited {
		return 0
	}
	wait := rateLimitWait(h, now)
	if !current {
		return wait // sent before the current window was known; says nothing new
	}
	until := now.Add(wait)
	if until.After(p.blockedUntil) {
		p.blockedUntil = until
	}
	p.remaining = 0
	if until.After(p.nextProbe) {
		p.nextProbe = until
	}
	return wait
}

// adopt makes rl the current window. probed says rl answers a probe sent at the
// planned time, which is what the phase bounds describe.
func (p *pacer) adopt(rl rateLimit, now time.Time, tk ticket, probed bool) {
	p.epoch++
	p.prevResetAt = p.resetAt
	p.remaining = rl.remaining
	p.resetAt = rl.resetAt
	rtt := now.Sub(tk.sent)
	p.lastRTT = rtt
	switch {
	case rl.gran < coarseReset:
		// Fine-grained Reset: trust it, a resolution step late to be safe.
		p.gran, p.lo, p.hi = rl.gran, 0, 0
		p.resetAt = p.resetAt.Add(rl.gran)
	case probed && p.gran == rl.gran:
		// The probe sent at resetAt-early (plus scheduling delay) found the new
		// window: the old estimate was at least `early` late. The new estimate
		// inherits the bounds, shifted by early and by this probe's own lateness.
		drift := max(tk.sent.Sub(p.nextProbe), 0) + rtt
		if rl.epoch {
			drift = 0 // an epoch Reset does not move with when we asked
		}
		p.lo = max(p.lo, p.early) - p.early + drift
		p.hi = p.hi - p.early + drift
		if p.hi <= p.lo {
			p.hi = p.lo + time.Millisecond
		}
	default:
		// A coarse Reset with nothing learned yet: an epoch time is likely exact;
		// seconds-to-reset may be rounded either way.
		p.gran = rl.gran
		p.lo, p.hi = -rl.gran, rl.gran
		if rl.epoch {
			p.lo, p.hi = 0, time.Millisecond
		}
	}
	p.lo = max(p.lo, -p.gran)
	p.hi = min(p.hi, p.gran)
	p.plan()
}

// inCurrentWindow reports whether an answer announcing reset was served in the
// current window rather than the previous one: whichever reset it is closer to.
func (p *pacer) inCurrentWindow(reset time.Time) bool {
	return reset.Sub(p.prevResetAt) > p.resetAt.Sub(reset)
}

// tooEarly records a probe that reached the old window (coarse Reset only).
func (p *pacer) tooEarly(now time.Time) {
	p.hi = min(p.hi, p.early)
	if p.hi <= p.lo {
		// Even the safe bound failed: the window does not behave as modelled
		// (rounded down, or a length that is not whole seconds); widen.
		p.lo = p.hi - p.gran
	}
	p.plan()
	if p.remaining-p.inFlight > 0 {
		return // the old window still has budget: nothing to wait for
	}
	// A floor on the gap keeps a misbehaving server from being hammered.
	p.blockedUntil = now.Add(5 * time.Millisecond)
	if p.nextProbe.After(p.blockedUntil) {
		p.blockedUntil = p.nextProbe
	}
}

// plan sets the next probe time from the phase bounds: bisect while they are wide,
// else take the safe (late) bound.
func (p *pacer) plan() {
	p.early = 0
	if p.gran >= coarseReset {
		thresh := max(30*time.Millisecond, 2*p.lastRTT)
		if p.hi-p.lo > thresh {
			p.early = p.lo + (p.hi-p.lo)/2
		} else {
			p.early = p.lo
		}
	}
	p.nextProbe = p.resetAt.Add(-p.early)
}

// rateLimit is one answer's rate-limit headers.
type rateLimit struct {
	remaining int
	resetAt   time.Time
	gran      time.Duration // resolution of the Reset value
	epoch     bool          // Reset was an epoch time
}

// rateHeader returns the first present value among X-Rate-Limit-NAME and X-RateLimit-NAME.
func rateHeader(h http.Header, name string) string {
	if v := h.Get("X-Rate-Limit-" + name); v != "" {
		return v
	}
	return h.Get("X-RateLimit-" + name)
}

// parseRateHeaders reads Remaining and Reset. Reset is seconds until the window ends
// (fractions allowed), or a UTC epoch time when the number is that large (> 1e9).
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
	gran := time.Second
	if i := strings.IndexByte(v, '.'); i >= 0 {
		for range len(v) - i - 1 {
			gran /= 10
		}
		gran = max(gran, time.Microsecond)
	}
	return rateLimit{remaining: rem, resetAt: t, gran: gran, epoch: epoch}, true
}

func parseReset(v string, now time.Time) (t time.Time, epoch, ok bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return time.Time{}, false, false
	}
	if f > 1e9 {
		sec, frac := math.Modf(f)
		t, epoch = time.Unix(int64(sec), int64(frac*1e9)), true
	} else {
		t = now.Add(time.Duration(f * float64(time.Second)))
	}
	switch {
	case t.Before(now):
		t = now
	case t.Sub(now) > maxRateLimitWait:
		t = now.Add(maxRateLimitWait)
	}
	return t, epoch, true
}

// minRateLimitWait keeps a server that says "Retry-After: 0" (or a reset already
// passed, after rounding) from being hammered.
const minRateLimitWait = 100 * time.Millisecond

// rateLimitWait is how long a 429 asks us to wait: the sooner of Retry-After
// (seconds or an HTTP date) and the rate-limit reset — Retry-After is often whole
// seconds rounded up, the reset finer — else one second; within [100ms, 5min].
func rateLimitWait(h http.Header, now time.Time) time.Duration {
	d := time.Duration(-1)
	if ra := strings.TrimSpace(h.Get("Retry-After")); ra != "" {
		if f, err := strconv.ParseFloat(ra, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			d = time.Duration(min(f, maxRateLimitWait.Seconds()) * float64(time.Second))
		} else if t, err := http.ParseTime(ra); err == nil {
			d = t.Sub(now)
		}
	}
	if t, _, ok := parseReset(rateHeader(h, "Reset"), now); ok && t.After(now) && (d < 0 || t.Sub(now) < d) {
		d = t.Sub(now)
	}
	if d < 0 {
		d = time.Second
	}
	return min(max(d, minRateLimitWait), maxRateLimitWait)
}
