package desktest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	epoch := func(min int) string {
		return strconv.FormatInt(time.Date(2026, 11, 26, 10, min, 0, 0, time.UTC).Unix(), 10)
	}
	tests := []struct {
		name    string
		asEpoch bool
		// Reset values expected at t=0, 10s, 10s (401), 20s, 30s (429) and 60s.
		resets [6]string
	}{
		{"seconds to reset", false, [6]string{"60", "50", "50", "40", "30", "60"}},
		{"epoch reset", true, [6]string{epoch(1), epoch(1), epoch(1), epoch(1), epoch(1), epoch(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			e := newEnv(t, Options{Clock: clock.Now, RateLimit: 3, RateWindow: time.Minute, ResetAsEpoch: tt.asEpoch})
			check := func(step int, res response, status int, remaining string) {
				t.Helper()
				h := res.header
				if res.status != status || h.Get("X-Rate-Limit-Limit") != "3" ||
					h.Get("X-Rate-Limit-Remaining") != remaining || h.Get("X-Rate-Limit-Reset") != tt.resets[step] {
					t.Errorf("step %d: status %d limit %q remaining %q reset %q; want %d 3 %s %s",
						step, res.status, h.Get("X-Rate-Limit-Limit"), h.Get("X-Rate-Limit-Remaining"),
						h.Get("X-Rate-Limit-Reset"), status, remaining, tt.resets[step])
				}
			}

			res := e.desk("POST", "/desk/api/v2/files/ref.json",
				`{"type":"attachment","filename":"a.txt","mimeType":"text/plain","disposition":"attachment"}`)
			check(0, res, 201, "2")
			r := decodeRef(t, res.body)
			// S3 is not rate limited and carries no Desk headers.
			up := e.upload(r.URL, formFor(r, []byte("x")), nil)
			if up.status != 201 || up.header.Get("X-Rate-Limit-Limit") != "" {
				t.Errorf("upload: %d, limit header %q", up.status, up.header.Get("X-Rate-Limit-Limit"))
			}
			clock.Advance(10 * time.Second)
			check(1, e.desk("GET", "/desk/api/v2/files/1.json", ""), 200, "1")
			// A refused key is told the limits but uses none of them.
			check(2, e.deskAuth("GET", "/desk/api/v2/files/1.json", "", "Bearer wrong"), 401, "1")
			clock.Advance(10 * time.Second)
			check(3, e.desk("PATCH", "/desk/api/v2/files/1.json", `{"file":{"state":"active"}}`), 200, "0")
			clock.Advance(10 * time.Second)
			res = e.desk("GET", "/desk/api/v2/files/1.json", "")
			check(4, res, 429, "0")
			if got := res.header.Get("Retry-After"); got != "30" {
				t.Errorf("Retry-After = %q, want 30", got)
			}
			if got, want := errorsOf(t, res.body), `[{"code":"rate_limited","detail":"rate limit of 3 requests per 1m0s exceeded; retry in 30 s"}]`; got != want {
				t.Errorf("429 body = %s, want %s", got, want)
			}
			clock.Advance(30 * time.Second)
			check(5, e.desk("GET", "/desk/api/v2/files/1.json", ""), 200, "2")
		})
	}

	// Off: no limit and no headers.
	e := newEnv(t, Options{})
	for i := range 5 {
		res := e.desk("GET", "/desk/api/v2/files/1.json", "")
		if res.status != 404 || res.header.Get("X-Rate-Limit-Limit") != "" {
			t.Fatalf("request %d without a limit: %d, limit header %q", i, res.status, res.header.Get("X-Rate-Limit-Limit"))
		}
	}
}

// freshClient never reuses a connection, so a dropped one is not silently retried by
// the transport.
func freshClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

func TestFaults(t *testing.T) {
	t.Run("status for the next N calls", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{})
		e.s.Inject(Ref, Fault{Status: 503, Times: 2, RetryAfter: "7"})
		body := `{"type":"attachment","filename":"a.txt","mimeType":"text/plain","disposition":"attachment"}`
		for i := range 2 {
			res := e.desk("POST", "/desk/api/v2/files/ref.json", body)
			if res.status != 503 || res.header.Get("Retry-After") != "7" {
				t.Fatalf("call %d: %d Retry-After %q", i, res.status, res.header.Get("Retry-After"))
			}
			if got, want := errorsOf(t, res.body), `[{"code":"injected","detail":"injected fault: status 503"}]`; got != want {
				t.Errorf("body %s, want %s", got, want)
			}
		}
		if res := e.desk("POST", "/desk/api/v2/files/ref.json", body); res.status != 201 {
			t.Fatalf("third call: %d", res.status)
		}
		if fs := e.s.Files(); len(fs) != 1 || fs[0].ID != 1 {
			t.Errorf("failed refs must create nothing: %+v", fs)
		}
	})

	t.Run("faults stay on their endpoint", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{})
		e.s.Inject(Delete, Fault{Status: 500})
		if res := e.desk("GET", "/desk/api/v2/files/1.json", ""); res.status != 404 {
			t.Errorf("GET met the DELETE fault: %d", res.status)
		}
		if res := e.desk("DELETE", "/desk/api/v2/files/1.json", ""); res.status != 500 {
			t.Errorf("DELETE: %d", res.status)
		}
	})

	t.Run("drop", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{})
		id := e.uploadFile("a.txt", []byte("x"))
		e.s.ResetRequests()
		e.s.Inject(Get, Fault{Drop: true})
		req, _ := http.NewRequest("GET", e.url+"/desk/api/v2/files/"+itoa(id)+".json", nil)
		req.Header.Set("Authorization", "Bearer "+testKey)
		if res, err := freshClient().Do(req); err == nil {
			res.Body.Close()
			t.Fatalf("dropped GET answered %d", res.StatusCode)
		}
		log := e.s.Requests()
		if len(log) != 1 || !log[0].Dropped || log[0].Status != 0 || log[0].Endpoint != Get {
			t.Errorf("log = %+v", log)
		}
		if res := e.desk("GET", "/desk/api/v2/files/1.json", ""); res.status != 200 {
			t.Errorf("GET after the drop: %d", res.status)
		}
	})

	t.Run("status after commit", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{})
		r := e.ref("a.txt", "text/plain")
		e.upload(r.URL, formFor(r, []byte("abc")), nil)
		e.s.Inject(Patch, Fault{Status: 500, AfterCommit: true})
		if res := e.desk("PATCH", "/desk/api/v2/files/1.json", `{"file":{"state":"active"}}`); res.status != 500 {
			t.Fatalf("PATCH: %d", res.status)
		}
		if f := e.s.Files()[0]; f.State != "active" || f.Size != 3 {
			t.Errorf("the PATCH must have happened: %+v", f)
		}
	})

	t.Run("drop after commit on upload", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{})
		r := e.ref("a.txt", "text/plain")
		e.s.Inject(Upload, Fault{Drop: true, AfterCommit: true})
		ct, body := multipartBody(t, formFor(r, []byte("stored anyway")))
		req, _ := http.NewRequest("POST", r.URL, bytesReader(body))
		req.Header.Set("Content-Type", ct)
		if res, err := freshClient().Do(req); err == nil {
			res.Body.Close()
			t.Fatalf("dropped upload answered %d", res.StatusCode)
		}
		if c, err := e.s.Content(1); err != nil || string(c) != "stored anyway" {
			t.Errorf("Content = %q, %v", c, err)
		}
	})

	t.Run("S3 status before commit", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{})
		r := e.ref("a.txt", "text/plain")
		e.s.Inject(Upload, Fault{Status: 503})
		res := e.upload(r.URL, formFor(r, []byte("x")), nil)
		if got := decodeS3Error(t, res.body); res.status != 503 || got.Code != "SlowDown" {
			t.Errorf("upload: %d %+v", res.status, got)
		}
		if f := e.s.Files()[0]; f.MD5 != "" {
			t.Errorf("a refused upload stored an object: %+v", f)
		}
	})

	t.Run("latency", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{})
		e.s.Inject(Get, Fault{Latency: 80 * time.Millisecond})
		start := time.Now()
		res := e.desk("GET", "/desk/api/v2/files/1.json", "")
		if d := time.Since(start); res.status != 404 || d < 80*time.Millisecond {
			t.Errorf("delayed GET: %d after %s", res.status, d)
		}
		e.s.SetLatency(80 * time.Millisecond)
		start = time.Now()
		e.desk("GET", "/desk/api/v2/files/1.json", "")
		if d := time.Since(start); d < 80*time.Millisecond {
			t.Errorf("SetLatency: answered after %s", d)
		}
	})
}

func TestRequestLog(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, Options{Clock: clock.Now})
	e.uploadFile("a.txt", []byte("x"))
	var got []string
	for _, r := range e.s.Requests() {
		got = append(got, r.Method+" "+r.Endpoint.String()+" "+strconv.Itoa(r.Status))
		if !r.Time.Equal(clock.Now()) {
			t.Errorf("time %s", r.Time)
		}
	}
	b, _ := json.Marshal(got)
	if want := `["POST Ref 201","POST Upload 201","PATCH Patch 200"]`; string(b) != want {
		t.Errorf("log = %s, want %s", b, want)
	}
	if ct := e.s.Requests()[1].ContentType; len(ct) < 20 || ct[:20] != "multipart/form-data;" {
		t.Errorf("upload content type %q", ct)
	}
	e.s.ResetRequests()
	if n := len(e.s.Requests()); n != 0 {
		t.Errorf("%d requests after ResetRequests", n)
	}
}
