package desk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHostileAnswers(t *testing.T) {
	endless := func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat(`{"file":`, 4096))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	gigantic := func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"file":{"id":1,"filename":"%s"}}`, strings.Repeat("a", 2<<20))
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string // %s is the server URL
	}{
		{"endless body", endless, `desk: get file 1: unusable answer from %s/desk/api/v2/files/1.json: the body is larger than 1048576 bytes`},
		{"gigantic JSON", gigantic, `desk: get file 1: unusable answer from %s/desk/api/v2/files/1.json: the body is larger than 1048576 bytes`},
		{"not JSON", status(200, "<html>hello</html>"), `desk: get file 1: unusable answer from %s/desk/api/v2/files/1.json: decoding the file record: invalid character '<' looking for beginning of value`},
		{"no file object", status(200, `{"files":[]}`), `desk: get file 1: unusable answer from %s/desk/api/v2/files/1.json: the answer has no "file" object`},
		{"id not a number", status(200, `{"file":{"id":"x1"}}`), `desk: get file 1: unusable answer from %s/desk/api/v2/files/1.json: decoding the file record: json: invalid number literal, trying to unmarshal "\"x1\"" into Number`},
		{"negative size", status(200, `{"file":{"id":1,"size":-5}}`), `desk: get file 1: unusable answer from %s/desk/api/v2/files/1.json: decoding the file record: file size -5 is not a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c, _ := newTestClient(t, srv.URL)
			_, err := c.GetFile(context.Background(), 1)
			if want := fmt.Sprintf(tt.want, srv.URL); err == nil || err.Error() != want {
				t.Fatalf("error =\n%v\nwant\n%s", err, want)
			}
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Errorf("error is %T, want *ResponseError", err)
			}
			if c.counts.Requests.Load() != 1 {
				t.Errorf("an unusable answer was retried: %+v", c.counts)
			}
		})
	}
}

func TestInvalidUTF8InFile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(status(200, "{\"file\":{\"id\":1,\"filename\":\"caf\xe9.png\"}}")))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL)
	f, err := c.GetFile(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if f.Filename != "caf\uFFFD.png" {
		t.Errorf("filename = %q", f.Filename)
	}
}

func TestRedirectToAnotherHost(t *testing.T) {
	var otherCalls, otherAuth atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherCalls.Add(1)
		if r.Header.Get("Authorization") != "" {
			otherAuth.Add(1)
		}
		ok(w, r)
	}))
	defer other.Close()
	var calls atomic.Int64
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	defer site.Close()
	c, dbg := newTestClient(t, site.URL)
	_, err := c.GetFile(context.Background(), 1)
	siteHost, otherHost := strings.TrimPrefix(site.URL, "http://"), strings.TrimPrefix(other.URL, "http://")
	want := fmt.Sprintf(`desk: get file 1: Get "%s/desk/api/v2/files/1.json": refusing to follow a redirect from %s to another host (%s) with the API key`,
		other.URL, siteHost, otherHost)
	if err == nil || err.Error() != want {
		t.Fatalf("error =\n%v\nwant\n%s", err, want)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Retryable() {
		t.Errorf("a refused redirect must be a final *APIError, got %#v", err)
	}
	if otherCalls.Load() != 0 || calls.Load() != 1 {
		t.Errorf("other host saw %d requests (%d with auth), site %d", otherCalls.Load(), otherAuth.Load(), calls.Load())
	}
	assertNoSecret(t, "debug log", dbg.String())
}

func TestSameHostRedirectKeepsWorking(t *testing.T) {
	var auth string
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/desk/api/v2/files/1.json" {
			http.Redirect(w, r, "/desk/api/v2/files/2.json", http.StatusMovedPermanently)
			return
		}
		auth = r.Header.Get("Authorization")
		ok(w, r)
	}))
	defer site.Close()
	c, _ := newTestClient(t, site.URL)
	if _, err := c.GetFile(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if auth != "Bearer "+testKey {
		t.Errorf("Authorization after a same-host redirect = %q", auth)
	}
}

func TestSlowServer(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"no headers in time", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}},
		{"body trickles", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"file":`)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				tt.handler(w, r)
			}))
			defer srv.Close()
			c, _ := newTestClient(t, srv.URL, func(c *testConfig) { c.Timeout = 100 * time.Millisecond; c.Retries = 1 })
			start := time.Now()
			_, err := c.GetFile(context.Background(), 1)
			if want := "desk: get file 1: no complete answer within 100ms (gave up after 2 attempts)"; err == nil || err.Error() != want {
				t.Fatalf("error = %v, want %q", err, want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			var ae *APIError
			if !errors.As(err, &ae) || !ae.Retryable() || calls.Load() != 2 {
				t.Errorf("a timeout should be retried once: %d calls", calls.Load())
			}
		})
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	// A hostile server echoes the Authorization header everywhere it can.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		w.Header().Set("X-Echo", auth)
		if r.URL.Path == "/desk/api/v2/files/ref.json" {
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, refJSON("http://127.0.0.1:1/"+auth+"?X-Amz-Signature="+testKey))
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"errors":[{"field":"auth","message":"%s was wrong"}]}`, auth)
	}))
	defer srv.Close()
	c, dbg := newTestClient(t, srv.URL, func(c *testConfig) { c.Retries = -1 })
	ctx := context.Background()
	var errs []error
	_, err := c.GetFile(ctx, 1)
	errs = append(errs, err)
	errs = append(errs, c.DeleteFile(ctx, 1))
	// A ref carrying the key is refused (and its temp file deleted: one more request).
	_, err = c.CreateRef(ctx, RefRequest{Filename: "a.png"})
	errs = append(errs, err)
	// Uploading to a URL that carries the key fails (nothing listens on port 1).
	ref, err := decodeRef([]byte(refJSON("http://127.0.0.1:1/" + testKey + "?X-Amz-Signature=" + testKey)))
	if err != nil {
		t.Fatal(err)
	}
	errs = append(errs, c.Upload(ctx, ref, strings.NewReader("x"), 1, "a.png", nil))
	_, err = c.Download(ctx, srv.URL+"/dl?token="+testKey, 10)
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("want an error")
		}
		assertNoSecret(t, "error", err.Error())
		var h interface{ Hint() string }
		if errors.As(err, &h) {
			assertNoSecret(t, "hint", h.Hint())
		}
	}
	if want := "desk: get file 1: 400 Bad Request: auth: Bearer [REDACTED] was wrong"; errs[0].Error() != want {
		t.Errorf("error = %q, want %q", errs[0], want)
	}
	assertNoSecret(t, "debug log", dbg.String())
	if n := strings.Count(dbg.String(), "\n"); n != 6 {
		t.Errorf("debug log has %d lines, want one per request (6):\n%s", n, dbg)
	}
}

func TestDebugLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(ok))
	defer srv.Close()
	c, dbg := newTestClient(t, srv.URL)
	if _, err := c.GetFile(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	line := dbg.String()
	prefix := fmt.Sprintf("desk: GET %s/desk/api/v2/files/1.json -> 200 OK in ", srv.URL)
	suffix := " (up 0 B, down 34 B)\n"
	if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, suffix) {
		t.Errorf("debug line = %q, want %q…%q", line, prefix, suffix)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"presigned S3", "https://b.s3.amazonaws.com/k?X-Amz-Signature=abc&X-Amz-Credential=AKIA%2Fx&X-Amz-Expires=300",
			"https://b.s3.amazonaws.com/k?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&X-Amz-Expires=REDACTED"},
		// The emulator's download token: a name no list of secret names would know.
		{"emulator download token", "http://127.0.0.1:4321/desktest/download/7?k=Zq8tLw2", "http://127.0.0.1:4321/desktest/download/7?k=REDACTED"},
		{"every value", "https://x.teamwork.com/dl/1?proxyKey=secret&v=2", "https://x.teamwork.com/dl/1?proxyKey=REDACTED&v=REDACTED"},
		{"bare token", "https://x.teamwork.com/dl/1?c2VjcmV0&v=2", "https://x.teamwork.com/dl/1?REDACTED&v=REDACTED"},
		{"empty value", "https://x.teamwork.com/dl?a=&b", "https://x.teamwork.com/dl?a=REDACTED&REDACTED"},
		{"name that does not unescape", "https://x.teamwork.com/dl?%zzsecret=1", "https://x.teamwork.com/dl?REDACTED"},
		{"semicolons are not separators", "https://x.teamwork.com/dl?a=1;sig=2", "https://x.teamwork.com/dl?a=REDACTED"},
		{"user info and fragment", "https://user:pw@x.teamwork.com/a#frag", "https://REDACTED@x.teamwork.com/a"},
		{"fragment token", "https://x.teamwork.com/a#access_token=abc", "https://x.teamwork.com/a"},
		{"empty query", "https://x.teamwork.com/a?", "https://x.teamwork.com/a"},
		{"plain", "https://x.teamwork.com/a", "https://x.teamwork.com/a"},
		{"does not parse", "%zz?token=abc", "%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactURL(tt.in); got != tt.want {
				t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTLSVerification(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		ok(w, r)
	}))
	defer srv.Close()

	// The default transport verifies certificates: a self-signed one fails, for good.
	c, _ := newTestClient(t, srv.URL)
	_, err := c.GetFile(context.Background(), 1)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Retryable() || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("error = %v, want a final certificate error", err)
	}
	if c.counts.Requests.Load() != 1 {
		t.Errorf("a certificate error was retried: %+v", c.counts)
	}

	// A client that trusts the server's certificate (Config.HTTPClient) works.
	c, _ = newTestClient(t, srv.URL, func(c *testConfig) { c.HTTPClient = srv.Client() })
	if _, err := c.GetFile(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
}

// TestCapsNeverCutASecret: the caps on error bodies and messages must not cut an
// echoed key in two and show its head, which scrubbing no longer recognises.
func TestCapsNeverCutASecret(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"echo straddling the error-body cap", strings.Repeat(" ", maxErrorBody-8) + testKey,
			"desk: delete file 1: 400 Bad Request"},
		{"JSON-escaped echo at the message cap", `{"message":"` + strings.Repeat("a", 390) + `\u0064` + testKey[1:] + `"}`,
			"desk: delete file 1: 400 Bad Request: " + strings.Repeat("a", 390) + "[REDACTED]"},
		{"XML-escaped echo past the message cap", `<Error><Code>X</Code><Message>` + strings.Repeat("a", 395) + `&#100;` + testKey[1:] + `</Message></Error>`,
			"desk: delete file 1: 400 Bad Request: X: " + strings.Repeat("a", 395) + "[REDA…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(status(400, tt.body)))
			defer srv.Close()
			c, dbg := newTestClient(t, srv.URL)
			err := c.DeleteFile(context.Background(), 1)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error =\n%v\nwant\n%s", err, tt.want)
			}
			assertNoKeyHead(t, "error", err.Error())
			assertNoKeyHead(t, "debug log", dbg.String())
		})
	}
}

// assertNoKeyHead fails when s holds the first 6 or more characters of testKey.
func assertNoKeyHead(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, testKey[:6]) {
		t.Errorf("%s contains the head of the key %q:\n%s", what, testKey[:6], s)
	}
}

// TestUploadOverTypeMaxSize: when the ref says how large a file of its type may be,
// a larger file is refused before a single byte goes to S3.
func TestUploadOverTypeMaxSize(t *testing.T) {
	var s3Calls atomic.Int64
	s3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s3Calls.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer s3.Close()
	c, _ := newTestClient(t, "http://127.0.0.1:1")
	ref := &Ref{URL: s3.URL, Params: []Param{{"key", "k"}}, File: File{ID: 1, Type: "image", TypeMaxSize: 3}}
	err := c.Upload(context.Background(), ref, strings.NewReader("four"), 4, "a.png", nil)
	want := `desk: upload "a.png": the file is 4 bytes, more than the 3 bytes Desk allows for type "image"`
	if err == nil || err.Error() != want {
		t.Fatalf("error =\n%v\nwant\n%s", err, want)
	}
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Hint() == "" {
		t.Errorf("error is %T, want *TooLargeError with a hint", err)
	}
	if s3Calls.Load() != 0 {
		t.Errorf("S3 saw %d requests, want none", s3Calls.Load())
	}
	// At the limit, the upload goes ahead.
	if err := c.Upload(context.Background(), ref, strings.NewReader("thr"), 3, "a.png", nil); err != nil || s3Calls.Load() != 1 {
		t.Errorf("upload at the limit = %v (%d S3 calls)", err, s3Calls.Load())
	}
}

// TestShortKeyDoesNotGarble: a key too short to be a real Desk key is not scrubbed out of
// every message it happens to occur in (e.g. the "x" of "example.com").
func TestShortKeyDoesNotGarble(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		key, in, want string
	}{
		{"x", `lookup example.invalid: no such host`, `lookup example.invalid: no such host`},
		{"sandbox", `site sandbox`, `site sandbox`},
		{"dk_live_7Hq2", `echo dk_live_7Hq2 back`, `echo [REDACTED] back`},
	} {
		c, err := New(Config{URL: "https://example.teamwork.com", APIKey: tt.key})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.scrub(tt.in); got != tt.want {
			t.Errorf("key %q: scrub(%q) = %q, want %q", tt.key, tt.in, got, tt.want)
		}
	}
}
