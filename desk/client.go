package desk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/desksync/desksync/internal/desktime"
)

const (
	defaultRetries     = 5
	defaultTimeout     = 60 * time.Second
	defaultBackoffBase = 500 * time.Millisecond
	defaultBackoffMax  = 30 * time.Second

	// Caps on what we read from a server: Desk's JSON answers are a few KiB, S3's XML
	// a few hundred bytes; anything beyond these is a broken or hostile server.
	maxJSONBody  = 1 << 20
	maxXMLBody   = 64 << 10
	maxErrorBody = 64 << 10

	// As SECURITY.md says, a 429 does not use the retry budget, but one call is retried after
	// 429 at most maxRateLimitRetries times, never waits longer than maxWait, and
	// every wait longer than announceWait is announced.
	maxRateLimitRetries = 10
	maxWait             = 120 * time.Second
	announceWait        = 5 * time.Second

	apiPath   = "/desk/api/v2"
	userAgent = "desksync"
)

// Config configures a Client. URL and APIKey are required; zero values elsewhere
// mean the defaults noted on each field.
type Config struct {
	// URL is the Desk site, e.g. https://yoursite.teamwork.com; a trailing "/",
	// "/desk" or "/desk/api/v2" is dropped. Plain http is refused unless the host is
	// loopback (the emulator).
	URL string
	// APIKey is sent to Desk (never to S3 or another host) as "Authorization: Bearer KEY".
	APIKey string
	// HTTPClient, if set, is copied and used with its Transport; its CheckRedirect is
	// replaced by one that never carries the key to another host. Default: a client
	// with dial, TLS-handshake and response-header timeouts.
	HTTPClient *http.Client
	// Resolver looks up the hosts of the upload and download URLs Desk hands out,
	// which must not lead into loopback, link-local or private networks unless the
	// site itself is on loopback. Default net.DefaultResolver; tests replace it.
	Resolver Resolver
	// Retries is how many times a retryable failure (network, 5xx) is retried; 429s
	// do not count. 0 means 5; negative means no retries.
	Retries int
	// Timeout bounds each Desk API request and, for uploads, how long no bytes may
	// move (a stall) — not the whole upload, so big files on slow links finish.
	// Default 60s.
	Timeout time.Duration
	// Debug, if set, receives one line per HTTP request (method, redacted URL, status,
	// duration, bytes up/down). Secrets never reach it.
	Debug io.Writer
	// Notices, if set, receives one line for every wait longer than 5 s (Desk's rate
	// limit, a 429, a backoff), so that a long pause is never silent. main passes stderr.
	Notices io.Writer
}

// Client talks to one Desk site and the S3 bucket its refs point at. It is safe for
// concurrent use; all goroutines using one Client share its rate-limit pacer.
type Client struct {
	site    *url.URL // scheme://host[/prefix], no trailing slash
	api     string   // site + apiPath
	key     string
	hc      *http.Client // the site: Desk API calls and downloads from the site itself
	offsite *http.Client // URLs Desk hands out: addresses checked unless the site is on loopback
	retries int
	timeout time.Duration

	outMu   sync.Mutex
	debug   io.Writer
	notices io.Writer

	now         func() time.Time
	sleep       func(ctx context.Context, d time.Duration) error
	jitter      func(max time.Duration) time.Duration
	backoffBase time.Duration
	backoffMax  time.Duration

	pacer *pacer
	// refused is Desk's first 401 or 403: once set, no call is sent any more.
	refused atomic.Pointer[APIError]

	counts *desktime.Counts // what was sent and received; tests read it
}

// Site is the site URL the client talks to, normalised: no trailing "/", "/desk" or
// "/desk/api/v2".
func (c *Client) Site() string { return c.site.String() }

const siteHint = "set DESK_URL (or --url) to your site, e.g. https://yoursite.teamwork.com"

// New checks cfg and returns a Client. It makes no request.
func New(cfg Config) (*Client, error) { return NewTuned(cfg, desktime.Knobs{}) }

// NewTuned is New with the clock and backoff replaced where k sets them, counting into
// k.Counts if set; only this module's tests can name k's type.
func NewTuned(cfg Config, k desktime.Knobs) (*Client, error) {
	site, err := parseSite(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.APIKey == "" {
		return nil, &ConfigError{Msg: "no Desk API key given",
			hint: "set DESK_API_KEY (or pass --api-key); find the key in Desk under your profile's API settings"}
	}
	if strings.ContainsFunc(cfg.APIKey, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return nil, &ConfigError{Msg: "the Desk API key contains spaces or control characters",
			hint: "check DESK_API_KEY for a stray newline or quote"}
	}
	c := &Client{
		site: site, api: site.String() + apiPath, key: cfg.APIKey,
		retries: cfg.Retries, timeout: cfg.Timeout, debug: cfg.Debug, notices: cfg.Notices,
		now: k.Clock, sleep: k.Sleep, jitter: k.Jitter,
		backoffBase: k.BackoffBase, backoffMax: k.BackoffMax, counts: k.Counts,
	}
	if c.counts == nil {
		c.counts = new(desktime.Counts)
	}
	if c.retries == 0 {
		c.retries = defaultRetries
	} else if c.retries < 0 {
		c.retries = 0
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.jitter == nil {
		c.jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return rand.N(max + 1)
		}
	}
	if c.backoffBase <= 0 {
		c.backoffBase = defaultBackoffBase
	}
	if c.backoffMax <= 0 {
		c.backoffMax = defaultBackoffMax
	}
	c.hc = &http.Client{Transport: newTransport(c.timeout)}
	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient
		c.hc = &hc
	}
	c.hc.CheckRedirect = checkRedirect
	c.offsite = c.hc
	if !isLoopback(site.Hostname()) {
		resolver := cfg.Resolver
		if resolver == nil {
			resolver = net.DefaultResolver
		}
		off := *c.hc
		off.Transport = newGuardedTransport(c.hc.Transport, resolver)
		c.offsite = &off
	}
	c.pacer = &pacer{now: c.now, sleep: k.Sleep, announce: c.announce, changed: make(chan struct{})}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	return c, nil
}

// parseSite checks the site URL and drops what users paste after the host.
func parseSite(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, &ConfigError{Msg: "no Desk site URL given", hint: siteHint}
	}
	site, err := url.Parse(raw)
	switch {
	case err != nil || site.Host == "" || (site.Scheme != "https" && site.Scheme != "http"):
		return nil, &ConfigError{Msg: fmt.Sprintf("site URL %q is not an absolute http(s) URL", redactURL(raw)), hint: siteHint}
	case site.User != nil:
		return nil, &ConfigError{Msg: "site URL must not contain a user or password",
			hint: "pass the API key with DESK_API_KEY (or --api-key), not in the URL"}
	case site.Scheme == "http" && !isLoopback(site.Hostname()):
		return nil, &ConfigError{Msg: fmt.Sprintf("site URL %q uses plain http, which would send the API key unencrypted", site.Redacted()),
			hint: "use https://; plain http is allowed only for loopback hosts (127.0.0.1, ::1, localhost), as with the emulator"}
	case site.RawQuery != "" || site.Fragment != "":
		return nil, &ConfigError{Msg: fmt.Sprintf("site URL %q must not have a query or fragment", redactURL(raw)),
			hint: "set DESK_URL to the site only, e.g. https://yoursite.teamwork.com"}
	}
	p := strings.TrimRight(site.Path, "/")
	for _, suffix := range []string{apiPath, "/desk"} {
		if strings.HasSuffix(strings.ToLower(p), suffix) {
			p = strings.TrimRight(p[:len(p)-len(suffix)], "/")
			break
		}
	}
	site.Path, site.RawPath = p, ""
	return site, nil
}

// newTransport bounds every phase that could hang: dialing, the TLS handshake and
// waiting for response headers. The body has no total deadline here: uploads use a
// stall timer instead, API calls a per-request context deadline.
func newTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 2 * timeout, // a backstop: the per-request deadline or stall timer fires first
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   16,
		ForceAttemptHTTP2:     true,
	}
}

// checkRedirect refuses to carry the API key to another host. Go already strips
// Authorization on some cross-domain redirects; we refuse outright so the failure
// is visible instead of becoming a confusing 401 elsewhere.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	first := via[0]
	if first.Header.Get("Authorization") != "" && req.URL.Host != first.URL.Host {
		return &redirectError{from: first.URL.Host, to: req.URL.Host}
	}
	if req.URL.Scheme == "http" && !isLoopback(req.URL.Hostname()) {
		return fmt.Errorf("refusing to follow a redirect to plain http on %s", req.URL.Host)
	}
	return nil
}

// isLoopback reports whether host is localhost or a loopback IP (127.0.0.0/8, ::1, or
// IPv4-mapped), by the guard's classification; an address that only carries a
// loopback IPv4 address through a translator (64:ff9b::7f00:1) leaves the machine
// and is not one.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	c := classifyAddr(a)
	return c.kind == kindLoopback && c.via == ""
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attemptFunc makes one HTTP exchange. It returns the status (0 when none arrived),
// the response headers (for rate-limit bookkeeping) and an error for anything but a
// usable 2xx answer.
type attemptFunc func(ctx context.Context) (status int, h http.Header, err error)

// callKind says how the retry layer treats a call.
type callKind int

const (
	offsiteCall callKind = iota // S3 or a download host: not paced, Desk does not count it
	siteCall                    // paced: a download from the site itself
	apiCall                     // paced, and a 401 or 403 stops the Client
)

// retry is the one retry layer: it runs attempt until it succeeds, fails for good,
// runs out of retries, or ctx ends.
func (c *Client) retry(ctx context.Context, op string, kind callKind, attempt attemptFunc) error {
	limited, sent := 0, 0
	for n := 0; ; {
		if first := c.refused.Load(); first != nil {
			return &AuthError{Op: op, Err: first, NotSent: true}
		}
		var tk ticket
		if kind != offsiteCall {
			var err error
			if tk, err = c.pacer.acquire(ctx); err != nil {
				var lw *longWaitError
				if errors.As(err, &lw) {
					return &APIError{Op: op, Err: err}
				}
				return fmt.Errorf("desk: %s: waiting for Desk's rate limit: %w", op, err)
			}
			if first := c.refused.Load(); first != nil { // refused while this call waited
				c.pacer.release(tk, 0, nil)
				return &AuthError{Op: op, Err: first, NotSent: true}
			}
		}
		c.counts.Requests.Add(1)
		sent++
		status, h, err := attempt(ctx)
		var ae *APIError
		refused := kind == apiCall && (status == http.StatusUnauthorized || status == http.StatusForbidden) && errors.As(err, &ae)
		if refused { // before release wakes the calls waiting in the pacer
			c.refused.CompareAndSwap(nil, ae)
		}
		var wait time.Duration
		if kind != offsiteCall {
			wait = c.pacer.release(tk, status, h)
		} else if status == http.StatusTooManyRequests {
			wait = retryAfter(h, c.now())
		}
		switch {
		case err == nil:
			return nil
		case refused:
			return &AuthError{Op: op, Err: ae}
		case !errors.As(err, &ae) || ctx.Err() != nil:
			return err
		}
		if status == http.StatusTooManyRequests {
			c.counts.RateLimited.Add(1)
			limited++
			if wait > maxWait {
				ae.Err = &longWaitError{wait: wait, why: "after its 429"}
			}
			if wait > maxWait || limited > maxRateLimitRetries {
				ae.Attempts = sent
				return err
			}
			if kind == offsiteCall { // paced calls wait in acquire, with everyone else
				c.announce(wait, "S3 answered 429 Too Many Requests")
				if serr := c.sleep(ctx, wait); serr != nil {
					return fmt.Errorf("%w; stopped waiting: %w", err, serr)
				}
			}
			continue
		}
		if !ae.Retryable() {
			return err
		}
		if n >= c.retries {
			ae.Attempts = sent
			return err
		}
		n++
		c.counts.Retries.Add(1)
		d := c.backoff(n)
		c.announce(d, fmt.Sprintf("%s failed (%s); retrying", op, ae.Cause()))
		if serr := c.sleep(ctx, d); serr != nil {
			return fmt.Errorf("%w; stopped retrying: %w", err, serr)
		}
	}
}

// backoff is full jitter: a uniform wait in [0, min(max, base·2^(n-1))], which
// spreads concurrent workers apart better than equal or decorrelated jitter.
func (c *Client) backoff(n int) time.Duration {
	d := c.backoffMax
	if n < 32 {
		if e := c.backoffBase << (n - 1); e > 0 && e < d {
			d = e
		}
	}
	return c.jitter(d)
}

// announce tells Notices about a wait long enough to look like a hang.
func (c *Client) announce(d time.Duration, why string) {
	if c.notices == nil || d <= announceWait {
		return
	}
	c.outMu.Lock()
	defer c.outMu.Unlock()
	fmt.Fprintf(c.notices, "desksync: %s: waiting %v\n", c.scrub(why), d.Round(time.Second))
}

// deskRequest is one Desk API call: JSON in, JSON out, Bearer auth, paced.
type deskRequest struct {
	op     string
	method string
	url    string
	in     any // marshalled as the JSON body; nil for none
	// decode handles a 2xx body; nil ignores it.
	decode func(body []byte) error
}

// callDesk runs r through the retry layer.
func (c *Client) callDesk(ctx context.Context, r deskRequest) error {
	var body []byte
	if r.in != nil {
		var err error
		if body, err = jsonMarshal(r.in); err != nil {
			return fmt.Errorf("desk: %s: encoding the request: %w", r.op, err)
		}
	}
	return c.retry(ctx, r.op, apiCall, func(ctx context.Context) (int, http.Header, error) {
		return c.exchange(ctx, c.hc, exchange{
			op: r.op, method: r.method, url: r.url, body: body, auth: true,
			max: maxJSONBody, decode: r.decode,
		})
	})
}

// exchange is one request/answer with a total deadline of c.timeout.
type exchange struct {
	op, method, url string
	body            []byte
	auth            bool
	max             int64 // cap on a 2xx body; more is an error
	tooBig          string
	decode          func(body []byte) error
}

func (c *Client) exchange(ctx context.Context, hc *http.Client, x exchange) (int, http.Header, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if x.body != nil {
		rd = bytes.NewReader(x.body)
	}
	req, err := http.NewRequestWithContext(actx, x.method, x.url, rd)
	if err != nil {
		return 0, nil, &ResponseError{Op: x.op, URL: redactURL(x.url), Msg: c.scrub(err.Error())}
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json")
	if x.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if x.auth {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		err = c.transportError(x.op, x.method, x.url, ctx, actx, err, hc != c.hc)
		c.logf(x.method, x.url, 0, err, start, int64(len(x.body)), 0)
		return 0, nil, err
	}
	defer resp.Body.Close()
	limit := int64(maxErrorBody)
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if ok {
		limit = x.max
	}
	data, over, rerr := readCapped(resp.Body, limit)
	c.logf(x.method, x.url, resp.StatusCode, rerr, start, int64(len(x.body)), int64(len(data)))
	if rerr != nil {
		return resp.StatusCode, resp.Header, c.transportError(x.op, x.method, x.url, ctx, actx, rerr, hc != c.hc)
	}
	if !ok {
		if over { // the cut may fall inside an echoed secret, leaving a head scrub cannot see
			data = data[:len(data)/2]
		}
		code, msg := decodeErrorBody(data, c.scrubber())
		return resp.StatusCode, resp.Header, &APIError{Op: x.op, Method: x.method, URL: redactURL(x.url),
			Status: resp.StatusCode, Code: code, Message: msg}
	}
	if over {
		msg := fmt.Sprintf("the body is larger than %d bytes", limit)
		if x.tooBig != "" {
			msg = x.tooBig
		}
		return resp.StatusCode, resp.Header, &ResponseError{Op: x.op, URL: redactURL(x.url), Msg: msg}
	}
	if x.decode != nil {
		if err := x.decode(data); err != nil {
			return resp.StatusCode, resp.Header, &ResponseError{Op: x.op, URL: redactURL(x.url), Msg: cleanScrubbed(err.Error(), c.scrubber())}
		}
	}
	return resp.StatusCode, resp.Header, nil
}

// transportError wraps a failure with no HTTP answer, naming a per-request timeout
// as such rather than as a bare "context deadline exceeded". offsite says the host
// is one Desk named (S3, a download), not the site, so that the hint points there.
func (c *Client) transportError(op, method, rawURL string, parent, actx context.Context, err error, offsite bool, secrets ...string) *APIError {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = redactURL(ue.URL)
	}
	var ne net.Error
	switch {
	case parent.Err() != nil:
	case actx.Err() != nil:
		if cause := context.Cause(actx); cause != nil && !errors.Is(cause, context.DeadlineExceeded) && !errors.Is(cause, context.Canceled) {
			err = cause
		} else {
			err = &timeoutError{d: c.timeout, err: err}
		}
	case errors.As(err, &ne) && ne.Timeout():
		err = &timeoutError{d: c.timeout, err: err}
	}
	return &APIError{Op: op, Method: method, URL: redactURL(rawURL), offsite: offsite,
		Err: &scrubbedError{msg: c.scrub(err.Error(), secrets...), err: err}}
}

// timeoutError is a request that got no complete answer within the timeout.
type timeoutError struct {
	d   time.Duration
	err error
}

func (e *timeoutError) Error() string { return fmt.Sprintf("no complete answer within %v", e.d) }
func (e *timeoutError) Unwrap() error { return e.err }

// scrubbedError carries an error whose text has had secrets removed, while keeping
// the original for errors.Is/As.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// minScrubbed is the shortest secret scrub replaces: under 8 characters a "secret" is
// no real Desk key or signature (the sandbox's key is "sandbox"), and replacing it
// everywhere would garble messages (a key "x" in "example.com").
const minScrubbed = 8

// scrub removes the API key (and the given secrets) from text a server sent or
// echoed, before it goes into an error, a log line or a returned record.
func (c *Client) scrub(s string, secrets ...string) string {
	for _, sec := range append(secrets, c.key) {
		if len(sec) >= minScrubbed {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// scrubber is scrub as a function, for cleanScrubbed.
func (c *Client) scrubber(secrets ...string) func(string) string {
	return func(s string) string { return c.scrub(s, secrets...) }
}

// logf writes one --debug line for a request.
func (c *Client) logf(method, rawURL string, status int, err error, start time.Time, up, down int64, secrets ...string) {
	if c.debug == nil {
		return
	}
	res := "error"
	if status != 0 {
		res = fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	line := fmt.Sprintf("desk: %s %s -> %s in %v (up %d B, down %d B)", method, redactURL(rawURL), res,
		time.Since(start).Round(time.Millisecond), up, down)
	var ae *APIError
	switch {
	case errors.As(err, &ae) && ae.Err != nil:
		line += ": " + ae.Err.Error()
	case err != nil:
		line += ": " + err.Error()
	}
	line = cleanScrubbed(line, c.scrubber(secrets...)) + "\n"
	c.outMu.Lock()
	defer c.outMu.Unlock()
	io.WriteString(c.debug, line)
}

// redactURL returns raw with user info and every query value replaced. All values,
// not a list of known secret names: presigned URLs carry their credential under
// names we cannot predict (X-Amz-Signature, Signature, k, token, sig, …), and a
// query value is never what a reader of an error or a --debug line needs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			return raw[:i]
		}
		return raw
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		u.RawQuery = redactQuery(u.RawQuery)
	}
	u.ForceQuery = false
	u.Fragment = ""
	u.RawFragment = ""
	return u.String()
}

// redactQuery keeps the names of a query, in order, and replaces every value. A part
// with no "=" (a bare token) or a name that does not unescape is replaced whole.
func redactQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, part := range parts {
		name, _, hasValue := strings.Cut(part, "=")
		if _, err := url.QueryUnescape(name); !hasValue || err != nil || name == "" {
			parts[i] = "REDACTED"
			continue
		}
		parts[i] = name + "=REDACTED"
	}
	return strings.Join(parts, "&")
}

// readCapped reads at most max bytes, reporting whether there was more.
func readCapped(r io.Reader, max int64) (data []byte, over bool, err error) {
	data, err = io.ReadAll(io.LimitReader(r, min(max, math.MaxInt64-1)+1))
	if int64(len(data)) > max {
		return data[:max], true, err
	}
	return data, false, err
}
