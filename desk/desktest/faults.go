package desktest

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// Endpoint names one of the emulator's operations, for fault injection and the
// request log.
type Endpoint int

// The emulator's endpoints. Unknown is any path or method it does not serve.
const (
	Unknown  Endpoint = iota
	Ref               // POST /desk/api/v2/files/ref.json
	Upload            // POST /s3/BUCKET
	Patch             // PATCH /desk/api/v2/files/{id}.json
	Get               // GET /desk/api/v2/files/{id}.json
	Delete            // DELETE /desk/api/v2/files/{id}.json
	Download          // GET /desktest/download/{id}
)

// String names the endpoint as the constant does.
func (e Endpoint) String() string {
	switch e {
	case Ref:
		return "Ref"
	case Upload:
		return "Upload"
	case Patch:
		return "Patch"
	case Get:
		return "Get"
	case Delete:
		return "Delete"
	case Download:
		return "Download"
	}
	return "Unknown"
}

// Fault is a failure to inject into the next calls of an endpoint.
type Fault struct {
	// Status answers the call with this HTTP status (a Desk JSON error or an S3 XML
	// error) instead of performing it.
	Status int
	// Times is how many calls the fault affects; 0 means once.
	Times int
	// Drop closes the connection without answering (takes precedence over Status).
	Drop bool
	// AfterCommit performs the operation first and only then answers Status or drops,
	// so the client never learns that it succeeded.
	AfterCommit bool
	// Latency delays the affected calls; alone (no Status, no Drop) it only slows them.
	Latency time.Duration
	// RetryAfter, when set, is sent as the Retry-After header of the Status answer.
	RetryAfter string
}

type queuedFault struct {
	f    Fault
	left int
}

// Inject queues f for the next f.Times calls of ep; faults queued for one endpoint are
// used up in order. A Desk call meets its fault only after it passed authentication and
// the rate limit.
func (s *Server) Inject(ep Endpoint, f Fault) {
	n := f.Times
	if n <= 0 {
		n = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[ep] = append(s.faults[ep], &queuedFault{f: f, left: n})
}

// ClearFaults drops every fault not yet used.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[Endpoint][]*queuedFault{}
}

func (s *Server) takeFault(ep Endpoint) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[ep]
	if len(q) == 0 {
		return Fault{}, false
	}
	f := q[0].f
	q[0].left--
	if q[0].left == 0 {
		s.faults[ep] = q[1:]
	}
	return f, true
}

func (s *Server) applyFault(w *statusWriter, r *http.Request, rt route, f Fault, handle func(http.ResponseWriter)) {
	if !sleep(r.Context(), f.Latency) {
		return
	}
	if f.Status == 0 && !f.Drop {
		handle(w)
		return
	}
	if f.AfterCommit {
		// The real answer is thrown away: the operation happened, the client is told
		// otherwise (or nothing).
		handle(&discardWriter{h: http.Header{}})
	}
	if f.Drop {
		drop(w)
		return
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if rt.desk {
		writeDeskError(w, f.Status, apiError{Code: "injected",
			Detail: fmt.Sprintf("injected fault: status %d", f.Status)})
		return
	}
	code, msg := s3FaultText(f.Status)
	writeS3Error(w, r, &s3Error{status: f.Status, code: code, msg: msg})
}

// drop closes the connection without a response, as a crashed server or a cut
// network would.
func drop(w *statusWriter) {
	w.dropped = true
	w.logOnce()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 cannot be hijacked; aborting the handler resets the stream instead.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func s3FaultText(status int) (code, msg string) {
	switch status {
	case http.StatusInternalServerError:
		return "InternalError", "We encountered an internal error. Please try again."
	case http.StatusServiceUnavailable:
		return "SlowDown", "Please reduce your request rate."
	case http.StatusForbidden:
		return "AccessDenied", "Access Denied"
	case http.StatusBadRequest:
		return "InvalidRequest", "Injected fault."
	}
	return "InjectedFault", fmt.Sprintf("Injected fault: status %d.", status)
}

// discardWriter swallows the answer of an operation performed under an AfterCommit
// fault.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return io.Discard.Write(b) }
func (d *discardWriter) WriteHeader(int)             {}
