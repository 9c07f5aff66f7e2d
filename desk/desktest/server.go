package desktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxUploadSize = 5 << 30 // 5 GiB, S3's limit for a single POST
	DefaultPolicyTTL     = time.Hour
	DefaultRateWindow    = time.Minute
)

// Names the emulator signs with. They are fixed so that tests can assert on params; the
// secret that makes signatures unforgeable is random per emulator (and persisted in Dir).
const (
	Bucket      = "desktest-bucket"
	AccessKeyID = "AKIADESKTESTEMULATOR"
	Region      = "us-east-1"
)

// Options configures a Server. The zero value of every field but APIKey is usable.
type Options struct {
	// APIKey is the key every Desk call must present (Bearer, or Basic as user or
	// password). Empty means no request is ever authorized.
	APIKey string
	// Clock gives the time for timestamps, policy dates and expiry, and rate windows;
	// nil means time.Now.
	Clock func() time.Time
	// Rand is the source of the signing secret, keys and download tokens; nil means
	// crypto/rand.
	Rand io.Reader
	// RateLimit is the number of Desk API requests allowed per RateWindow; 0 turns
	// limiting (and the X-Rate-Limit-* headers) off.
	RateLimit int
	// RateWindow is the length of a fixed rate window; 0 means one minute.
	RateWindow time.Duration
	// ResetAsEpoch sends X-Rate-Limit-Reset as the window's end in Unix seconds
	// instead of the seconds left, the other form Desk clients must understand.
	ResetAsEpoch bool
	// MaxUploadSize caps every upload, whatever its policy allows; 0 means 5 GiB.
	MaxUploadSize int64
	// PolicyTTL is how long an upload policy stays valid after its ref; 0 means 1 h.
	PolicyTTL time.Duration
	// Dir, when set, persists the emulator there (metadata and blobs). New starts
	// empty and overwrites what Dir held; Open resumes it.
	Dir string
	// Latency delays every request, Desk, S3 and downloads alike.
	Latency time.Duration
}

// Server is the emulator: an http.Handler serving Desk's file API, the S3 upload
// endpoint and download URLs. Create it with New or Open.
type Server struct {
	apiKey        string
	rand          io.Reader
	maxUploadSize int64
	policyTTL     time.Duration
	resetAsEpoch  bool
	dir           string
	// log is the metadata log, open for appending once the first change after New or
	// Open has written a snapshot (Dir only).
	log *os.File

	clock   atomic.Pointer[func() time.Time]
	latency atomic.Int64 // time.Duration

	blobs blobStore
	// bufs recycles upload copy buffers, which would otherwise dominate the
	// allocations of small uploads.
	bufs sync.Pool

	mu       sync.Mutex
	secret   string // hex; SigV4 secret access key
	nextID   int64
	files    map[int64]*record
	byKey    map[string]int64
	limiter  limiter
	faults   map[Endpoint][]*queuedFault
	requests []Request
}

// New returns an emulator with no files. It never fails: with Options.Dir set, a
// problem writing there surfaces as a 500 answer to the request that caused it.
func New(opts Options) *Server {
	s := newServer(opts)
	s.secret = s.randomHex(32)
	if s.dir != "" {
		s.blobs = &dirStore{dir: s.dir}
	}
	return s
}

// Open loads the emulator persisted in dir (creating the folder and an empty emulator
// when it holds none yet), so a --sandbox survives process restarts. opts.Dir is
// ignored in favour of dir. Uploads that were in flight when the last process ended
// are discarded.
func Open(dir string, opts Options) (*Server, error) {
	opts.Dir = dir
	s := newServer(opts)
	ds := &dirStore{dir: dir}
	if err := ds.init(); err != nil {
		return nil, err
	}
	s.blobs = ds
	data, err := os.ReadFile(filepath.Join(dir, metaFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.secret = s.randomHex(32)
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("desktest: reading emulator state: %w", err)
	}
	if err := s.load(data); err != nil {
		return nil, &OpenError{Path: filepath.Join(dir, metaFile), Err: err}
	}
	if err := s.replay(filepath.Join(dir, logFile), data); err != nil {
		return nil, &OpenError{Path: filepath.Join(dir, logFile), Err: err}
	}
	return s, nil
}

// OpenError reports a persisted emulator that cannot be loaded.
type OpenError struct {
	Path string
	Err  error
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("desktest: %s: cannot load the emulator's state: %v", e.Path, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

// Hint says how to recover: the sandbox is disposable.
func (e *OpenError) Hint() string {
	return fmt.Sprintf("the sandbox is only a test double; delete %s to start it afresh", filepath.Dir(e.Path))
}

func newServer(opts Options) *Server {
	s := &Server{
		apiKey:        opts.APIKey,
		rand:          opts.Rand,
		maxUploadSize: opts.MaxUploadSize,
		policyTTL:     opts.PolicyTTL,
		resetAsEpoch:  opts.ResetAsEpoch,
		dir:           opts.Dir,
		blobs:         &memStore{blobs: map[int64][]byte{}},
		nextID:        1,
		files:         map[int64]*record{},
		byKey:         map[string]int64{},
		faults:        map[Endpoint][]*queuedFault{},
	}
	s.bufs.New = func() any { b := make([]byte, 256<<10); return &b }
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.maxUploadSize <= 0 {
		s.maxUploadSize = DefaultMaxUploadSize
	}
	if s.policyTTL <= 0 {
		s.policyTTL = DefaultPolicyTTL
	}
	s.limiter = limiter{limit: opts.RateLimit, window: opts.RateWindow}
	if s.limiter.window <= 0 {
		s.limiter.window = DefaultRateWindow
	}
	s.SetClock(opts.Clock)
	s.SetLatency(opts.Latency)
	return s
}

// SetClock replaces the emulator's clock (nil restores time.Now), e.g. to expire
// upload policies or move to the next rate window.
func (s *Server) SetClock(clock func() time.Time) {
	if clock == nil {
		clock = time.Now
	}
	s.clock.Store(&clock)
}

// SetLatency delays every later request by d.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

func (s *Server) now() time.Time { return (*s.clock.Load())().UTC() }

// randomHex returns n random bytes in hex. A failing random source cannot be
// recovered from, but it must not crash a test binary either, so it degrades to a
// time-derived value (the emulator is no security boundary).
func (s *Server) randomHex(n int) string {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return fmt.Sprintf("%0*x", 2*n, time.Now().UnixNano())
	}
	return hex.EncodeToString(b)
}

// Serve runs s on a new loopback listener (127.0.0.1, a free port) and returns its base
// URL, e.g. http://127.0.0.1:41234, and a stop function that shuts the server down,
// waiting briefly for requests in flight.
func Serve(s *Server) (baseURL string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("desktest: listening on loopback: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns http.ErrServerClosed after stop
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			// Short: by the time the caller stops, its requests are done; what remains is at
			// most a connection the client dialled but never used, which Shutdown would
			// otherwise wait for (it treats new connections as active for 5 s).
			ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
			defer cancel()
			if srv.Shutdown(ctx) != nil {
				_ = srv.Close()
			}
			<-done
		})
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// route says which endpoint a request is for, and its file id or bucket.
type route struct {
	ep     Endpoint
	id     int64
	bucket string
	desk   bool // a Desk API path: authenticated and rate limited
	ok     bool // the method is allowed on the path
	allow  string
}

const (
	deskPrefix     = "/desk/api/v2/files/"
	s3Prefix       = "/s3/"
	downloadPrefix = "/desktest/download/"
)

func parseRoute(r *http.Request) route {
	p := r.URL.Path
	switch {
	case p == deskPrefix+"ref.json":
		return route{ep: Ref, desk: true, ok: r.Method == http.MethodPost, allow: "POST"}
	case strings.HasPrefix(p, deskPrefix) && strings.HasSuffix(p, ".json"):
		id, ok := parseID(strings.TrimSuffix(strings.TrimPrefix(p, deskPrefix), ".json"))
		if !ok {
			return route{ep: Unknown, desk: true}
		}
		rt := route{id: id, desk: true, ok: true, allow: "GET, PATCH, DELETE"}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			rt.ep = Get
		case http.MethodPatch:
			rt.ep = Patch
		case http.MethodDelete:
			rt.ep = Delete
		default:
			rt.ep, rt.ok = Unknown, false
		}
		return rt
	case strings.HasPrefix(p, deskPrefix) || strings.HasPrefix(p, "/desk/"):
		return route{ep: Unknown, desk: true}
	case strings.HasPrefix(p, s3Prefix) && !strings.Contains(p[len(s3Prefix):], "/"):
		return route{ep: Upload, bucket: p[len(s3Prefix):], ok: r.Method == http.MethodPost, allow: "POST"}
	case strings.HasPrefix(p, downloadPrefix):
		id, ok := parseID(p[len(downloadPrefix):])
		if !ok {
			return route{ep: Download}
		}
		return route{ep: Download, id: id, ok: r.Method == http.MethodGet || r.Method == http.MethodHead, allow: "GET, HEAD"}
	}
	return route{ep: Unknown}
}

func parseID(s string) (int64, bool) {
	if s == "" || s[0] == '+' || s[0] == '-' || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// ServeHTTP serves one request: log it, delay it, authenticate and rate-limit Desk
// calls, apply any injected fault, then run the endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	rt := parseRoute(r)
	req := Request{
		Method:        r.Method,
		Path:          r.URL.Path,
		Endpoint:      rt.ep,
		Authorization: r.Header.Get("Authorization"),
		ContentType:   r.Header.Get("Content-Type"),
		Time:          s.now(),
	}
	// A dropped request is logged before its connection closes, so a client that sees
	// the close also sees the entry.
	sw.logOnce = sync.OnceFunc(func() {
		req.Status = sw.status
		req.Dropped = sw.dropped
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	})
	defer sw.logOnce()

	if !sleep(r.Context(), time.Duration(s.latency.Load())) {
		return
	}

	if rt.desk {
		if !s.authorized(r) {
			s.rateHeaders(sw, false)
			sw.Header().Set("WWW-Authenticate", `Bearer realm="desk"`)
			writeDeskError(sw, http.StatusUnauthorized, apiError{Code: "unauthorized",
				Detail: "missing or wrong API key; send Authorization: Bearer <key>"})
			return
		}
		if !s.rateHeaders(sw, true) {
			return
		}
		if rt.ep == Unknown {
			if rt.allow != "" {
				sw.Header().Set("Allow", rt.allow)
				writeDeskError(sw, http.StatusMethodNotAllowed, apiError{Code: "method_not_allowed",
					Detail: fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, rt.allow)})
				return
			}
			writeDeskError(sw, http.StatusNotFound, apiError{Code: "not_found",
				Detail: fmt.Sprintf("no Desk endpoint at %s", r.URL.Path)})
			return
		}
	}
	if rt.ep == Unknown || (rt.ep == Download && rt.id == 0) {
		http.NotFound(sw, r)
		return
	}
	if !rt.ok {
		sw.Header().Set("Allow", rt.allow)
		if rt.desk {
			writeDeskError(sw, http.StatusMethodNotAllowed, apiError{Code: "method_not_allowed",
				Detail: fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, rt.allow)})
		} else {
			writeS3Error(sw, r, &s3Error{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed",
				msg: "The specified method is not allowed against this resource."})
		}
		return
	}

	handle := func(w http.ResponseWriter) {
		switch rt.ep {
		case Ref:
			s.handleRef(w, r)
		case Patch:
			s.handlePatch(w, r, rt.id)
		case Get:
			s.handleGet(w, r, rt.id)
		case Delete:
			s.handleDelete(w, r, rt.id)
		case Upload:
			s.handleUpload(w, r, rt.bucket)
		case Download:
			s.handleDownload(w, r, rt.id)
		}
	}
	f, ok := s.takeFault(rt.ep)
	if !ok {
		handle(sw)
		return
	}
	s.applyFault(sw, r, rt, f, handle)
}

// authorized accepts "Bearer KEY", or Basic auth carrying KEY as user or password, as
// Desk does.
func (s *Server) authorized(r *http.Request) bool {
	if s.apiKey == "" {
		return false
	}
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		return tok == s.apiKey
	}
	if user, pass, ok := r.BasicAuth(); ok {
		return user == s.apiKey || pass == s.apiKey
	}
	return false
}

// rateHeaders sets the X-Rate-Limit-* headers; with take it also counts the request
// and, beyond the limit, answers 429 and returns false.
func (s *Server) rateHeaders(w http.ResponseWriter, take bool) bool {
	now := s.now()
	s.mu.Lock()
	st := s.limiter.take(now, take)
	s.mu.Unlock()
	if st.limit == 0 {
		return true
	}
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(st.limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(st.remaining))
	wait := ceilSeconds(st.reset.Sub(now))
	if s.resetAsEpoch {
		h.Set("X-Rate-Limit-Reset", strconv.FormatInt(st.reset.Unix(), 10))
	} else {
		h.Set("X-Rate-Limit-Reset", strconv.FormatInt(wait, 10))
	}
	if st.allowed {
		return true
	}
	h.Set("Retry-After", strconv.FormatInt(max(wait, 1), 10))
	writeDeskError(w, http.StatusTooManyRequests, apiError{Code: "rate_limited",
		Detail: fmt.Sprintf("rate limit of %d requests per %s exceeded; retry in %d s", st.limit, s.limiter.window, max(wait, 1))})
	return false
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// limiter counts Desk requests in fixed windows aligned to multiples of window.
type limiter struct {
	limit  int
	window time.Duration
	start  time.Time
	count  int
}

type limitState struct {
	limit, remaining int
	reset            time.Time
	allowed          bool
}

func (l *limiter) take(now time.Time, take bool) limitState {
	if l.limit <= 0 {
		return limitState{allowed: true}
	}
	if ws := now.Truncate(l.window); !ws.Equal(l.start) {
		l.start, l.count = ws, 0
	}
	st := limitState{limit: l.limit, reset: l.start.Add(l.window), allowed: true}
	if take {
		if l.count >= l.limit {
			st.allowed = false
		} else {
			l.count++
		}
	}
	st.remaining = l.limit - l.count
	return st
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// statusWriter remembers the status for the request log. Unwrap lets
// http.ResponseController reach the connection to hijack it for dropped faults.
type statusWriter struct {
	http.ResponseWriter
	status  int
	dropped bool
	logOnce func()
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
