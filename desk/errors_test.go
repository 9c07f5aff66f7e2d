package desk

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDeskErrorsDecoded(t *testing.T) {
	long := strings.Repeat("x", 1000)
	tests := []struct {
		name      string
		status    int
		body      string
		want      string
		retryable bool
		hint      string
	}{
		{"validation errors list", 400, `{"errors":[{"code":"invalid","field":"filename","detail":"must not be empty"}]}`,
			`desk: get file 1: 400 Bad Request: filename: must not be empty`, false, ""},
		{"several errors", 400, `{"errors":[{"field":"filename","message":"must not be empty"},{"field":"mimeType","message":"is not a mime type"}]}`,
			`desk: get file 1: 400 Bad Request: filename: must not be empty; mimeType: is not a mime type`, false, ""},
		{"errors by field", 422, `{"errors":{"mimeType":["is invalid"],"filename":["must not be empty","is too long"]}}`,
			`desk: get file 1: 422 Unprocessable Entity: filename: must not be empty, is too long; mimeType: is invalid`, false, ""},
		{"message", 401, `{"message":"Unauthorized"}`,
			`desk: get file 1: 401 Unauthorized: Unauthorized`, false, "check DESK_API_KEY (or --api-key): Desk did not accept it"},
		{"code and message", 403, `{"code":"forbidden","message":"no access to files"}`,
			`desk: get file 1: 403 Forbidden: forbidden: no access to files`, false, ""},
		{"nested error", 400, `{"error":{"message":"bad request body"}}`,
			`desk: get file 1: 400 Bad Request: bad request body`, false, ""},
		{"plain text with CRLF", 400, "bad things\r\nX-Injected: yes\r\n",
			`desk: get file 1: 400 Bad Request: bad things X-Injected: yes`, false, ""},
		{"invalid UTF-8", 400, "{\"message\":\"caf\xe9 \xff\"}",
			"desk: get file 1: 400 Bad Request: caf\uFFFD \uFFFD", false, ""},
		{"html page from a proxy", 502, `<html><head><title>502</title></head><body>Bad gateway</body></html>`,
			`desk: get file 1: 502 Bad Gateway`, true, "the server failed; desksync retried with backoff; try again later"},
		{"empty 404", 404, ``,
			`desk: get file 1: 404 Not Found`, false, "the file no longer exists on Desk (deleted remotely?); desksync refresh records that in state"},
		{"huge message capped", 400, `{"message":"` + long + `"}`,
			`desk: get file 1: 400 Bad Request: ` + long[:maxMessage] + "…", false, ""},
		{"key echoed back", 400, `{"message":"key ` + testKey + ` is malformed"}`,
			`desk: get file 1: 400 Bad Request: key [REDACTED] is malformed`, false, ""},
		{"S3-style XML", 503, `<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`,
			`desk: get file 1: 503 Service Unavailable: SlowDown: Please reduce your request rate.`, true, "the server failed; desksync retried with backoff; try again later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, dbg := newTestClient(t, srv.URL, func(c *testConfig) { c.Retries = -1 })
			_, err := c.GetFile(context.Background(), 1)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error =\n%q\nwant\n%q", err.Error(), tt.want)
			}
			if ae.Status != tt.status || ae.Retryable() != tt.retryable || ae.Hint() != tt.hint {
				t.Errorf("status %d retryable %v hint %q; want %d %v %q", ae.Status, ae.Retryable(), ae.Hint(), tt.status, tt.retryable, tt.hint)
			}
			assertNoSecret(t, "debug log", dbg.String())
		})
	}
}

// scriptServer answers each request with the next step of a script, repeating the
// last one, and counts requests.
type scriptServer struct {
	mu    sync.Mutex
	steps []func(w http.ResponseWriter, r *http.Request)
	calls atomic.Int64
}

func (s *scriptServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.calls.Add(1)) - 1
	s.mu.Lock()
	step := s.steps[min(n, len(s.steps)-1)]
	s.mu.Unlock()
	step(w, r)
}

func status(code int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func ok(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, `{"file":{"id":1,"state":"active"}}`)
}

// hangUp drops the connection without an answer.
func hangUp(w http.ResponseWriter, r *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name     string
		retries  int
		steps    []func(http.ResponseWriter, *http.Request)
		wantErr  string
		calls    int64
		wantWait []time.Duration
	}{
		{"500 then success", 0, []func(http.ResponseWriter, *http.Request){status(500, "boom"), ok}, "", 2,
			[]time.Duration{500 * time.Millisecond}},
		{"502 and 503 then success", 0, []func(http.ResponseWriter, *http.Request){status(502, ""), status(503, ""), ok}, "", 3,
			[]time.Duration{500 * time.Millisecond, time.Second}},
		{"dropped connection then success", 0, []func(http.ResponseWriter, *http.Request){hangUp, ok}, "", 2,
			[]time.Duration{500 * time.Millisecond}},
		{"400 is not retried", 0, []func(http.ResponseWriter, *http.Request){status(400, `{"message":"no"}`), ok},
			"desk: get file 1: 400 Bad Request: no", 1, nil},
		{"404 is not retried", 0, []func(http.ResponseWriter, *http.Request){status(404, ""), ok},
			"desk: get file 1: 404 Not Found", 1, nil},
		{"gives up after Retries", 2, []func(http.ResponseWriter, *http.Request){status(500, "boom")},
			"desk: get file 1: 500 Internal Server Error: boom (gave up after 3 attempts)", 3,
			[]time.Duration{500 * time.Millisecond, time.Second}},
		{"backoff is capped", 5, []func(http.ResponseWriter, *http.Request){status(503, "")},
			"desk: get file 1: 503 Service Unavailable (gave up after 6 attempts)", 6,
			[]time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scriptServer{steps: tt.steps}
			srv := httptest.NewServer(s)
			defer srv.Close()
			ft := newFakeTime()
			c, _ := newTestClient(t, srv.URL, ft.use, func(c *testConfig) {
				c.Retries = tt.retries
				c.BackoffBase, c.BackoffMax = 500*time.Millisecond, 3*time.Second
				c.Jitter = func(max time.Duration) time.Duration { return max } // the ceiling, to assert it
			})
			_, err := c.GetFile(context.Background(), 1)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("GetFile: %v", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if got := s.calls.Load(); got != tt.calls {
				t.Errorf("server saw %d requests, want %d", got, tt.calls)
			}
			if got := ft.Slept(); !equalDurations(got, tt.wantWait) {
				t.Errorf("waits = %v, want %v", got, tt.wantWait)
			}
			if st := c.counts; st.Requests.Load() != tt.calls || st.Retries.Load() != int64(len(tt.wantWait)) {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRetryStopsWithContext(t *testing.T) {
	s := &scriptServer{steps: []func(http.ResponseWriter, *http.Request){status(500, "boom")}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	c, _ := newTestClient(t, srv.URL, func(c *testConfig) {
		c.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	})
	_, err := c.GetFile(ctx, 1)
	want := "desk: get file 1: 500 Internal Server Error: boom; stopped retrying: context canceled"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(err, context.Canceled) = false")
	}
	if s.calls.Load() != 1 {
		t.Errorf("server saw %d requests, want 1", s.calls.Load())
	}
}

func TestRateLimited(t *testing.T) {
	ft := newFakeTime()
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"Retry-After seconds", map[string]string{"Retry-After": "3"}, 3 * time.Second},
		{"Retry-After date", map[string]string{"Retry-After": ft.Now().Add(4 * time.Second).Format(http.TimeFormat)}, 4 * time.Second},
		{"Reset as seconds", map[string]string{"X-Rate-Limit-Limit": "120", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "7"}, 7 * time.Second},
		{"Reset as epoch", map[string]string{"X-Rate-Limit-Limit": "120", "X-Rate-Limit-Remaining": "0",
			"X-Rate-Limit-Reset": strconv.FormatInt(ft.Now().Add(9*time.Second).Unix(), 10)}, 9 * time.Second},
		{"Retry-After wins over Reset", map[string]string{"Retry-After": "2", "X-Rate-Limit-Remaining": "0",
			"X-Rate-Limit-Reset": "1.250"}, 2 * time.Second},
		{"nothing said", nil, time.Second},
		{"Retry-After 0 is not a busy loop", map[string]string{"Retry-After": "0"}, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scriptServer{steps: []func(http.ResponseWriter, *http.Request){
				func(w http.ResponseWriter, r *http.Request) {
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					status(429, `{"errors":[{"code":"rate_limited","detail":"slow down"}]}`)(w, r)
				}, ok}}
			srv := httptest.NewServer(s)
			defer srv.Close()
			ft := newFakeTime()
			// No retry budget at all: a 429 must not need one.
			c, _ := newTestClient(t, srv.URL, ft.use, func(c *testConfig) { c.Retries = -1 })
			if _, err := c.GetFile(context.Background(), 1); err != nil {
				t.Fatalf("GetFile: %v", err)
			}
			var total time.Duration
			for _, d := range ft.Slept() {
				total += d
			}
			if total != tt.want {
				t.Errorf("waits = %v, want %v in all", ft.Slept(), tt.want)
			}
			if st := c.counts; st.RateLimited.Load() != 1 || st.Retries.Load() != 0 || st.Requests.Load() != 2 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestRateLimitedForever(t *testing.T) {
	s := &scriptServer{steps: []func(http.ResponseWriter, *http.Request){func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		status(429, `{"errors":[{"code":"rate_limited","detail":"slow down"}]}`)(w, r)
	}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	ft := newFakeTime()
	c, _ := newTestClient(t, srv.URL, ft.use)
	_, err := c.GetFile(context.Background(), 1)
	want := "desk: get file 1: 429 Too Many Requests: slow down (gave up after 11 attempts)"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	if got := s.calls.Load(); got != maxRateLimitRetries+1 {
		t.Errorf("server saw %d requests, want %d", got, maxRateLimitRetries+1)
	}
	var ae *APIError
	if errors.As(err, &ae); ae.Hint() != "Desk kept rate-limiting; lower --parallelism or try again later" {
		t.Errorf("hint = %q", ae.Hint())
	}
}

func TestIsPolicyExpired(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&APIError{Status: 403, Code: "AccessDenied", Message: "Invalid according to Policy: Policy expired."}, true},
		{&APIError{Status: 403, Code: "AccessDenied", Message: "Invalid according to Policy: Policy Condition failed"}, false},
		{&APIError{Status: 400, Code: "AccessDenied", Message: "Policy expired."}, false},
		{errors.New("Policy expired"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := IsPolicyExpired(tt.err); got != tt.want {
			t.Errorf("IsPolicyExpired(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
