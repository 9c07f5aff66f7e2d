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

	"github.com/desksync/desksync/internal/heaptest"
)

// s3Error writes S3's XML error document.
func writeS3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>%s</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>`, code, msg)
}

func TestUploadAnswers(t *testing.T) {
	const policy = "eyJleHBpcmF0aW9uIjoiMjAyNi0xMS0yNlQxMTowMDowMFoifQ=="
	tests := []struct {
		name      string
		answers   []func(w http.ResponseWriter, got s3Received) bool // one per attempt, last repeats
		wantErr   string                                             // %s is the upload URL
		attempts  int
		expired   bool
		retryable bool
		hint      string
	}{
		{name: "ETag matches", attempts: 1},
		{name: "ETag is not an MD5 (multipart, KMS)", attempts: 1, answers: []func(http.ResponseWriter, s3Received) bool{
			func(w http.ResponseWriter, got s3Received) bool {
				w.Header().Set("ETag", `"d41d8cd98f00b204e9800998ecf8427e-2"`)
				w.WriteHeader(http.StatusNoContent)
				return true
			}}},
		{name: "ETag mismatch", attempts: 1, answers: []func(http.ResponseWriter, s3Received) bool{
			func(w http.ResponseWriter, got s3Received) bool {
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, `<PostResponse><ETag>"00000000000000000000000000000000"</ETag></PostResponse>`)
				return true
			}},
			wantErr: `desk: upload "logo.png": unusable answer from %s: S3 stored ETag 00000000000000000000000000000000 but the MD5 of the bytes sent is 5d41402abc4b2a76b9719d911017c592: the file was corrupted on the way`},
		{name: "policy expired", attempts: 1, expired: true, answers: []func(http.ResponseWriter, s3Received) bool{
			func(w http.ResponseWriter, got s3Received) bool {
				writeS3Error(w, 403, "AccessDenied", "Invalid according to Policy: Policy expired.")
				return true
			}},
			wantErr: `desk: upload "logo.png": 403 Forbidden: AccessDenied: Invalid according to Policy: Policy expired.`,
			hint:    "the presigned upload policy ran out before the upload finished; run apply again to get a fresh one"},
		{name: "entity too large", attempts: 1, answers: []func(http.ResponseWriter, s3Received) bool{
			func(w http.ResponseWriter, got s3Received) bool {
				writeS3Error(w, 400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
				return true
			}},
			wantErr: `desk: upload "logo.png": 400 Bad Request: EntityTooLarge: Your proposed upload exceeds the maximum allowed size`,
			hint:    "the file is larger than Desk allows for this type"},
		{name: "S3 echoes the policy", attempts: 1, answers: []func(http.ResponseWriter, s3Received) bool{
			func(w http.ResponseWriter, got s3Received) bool {
				writeS3Error(w, 403, "SignatureDoesNotMatch", "policy "+policy+" does not match")
				return true
			}},
			wantErr: `desk: upload "logo.png": 403 Forbidden: SignatureDoesNotMatch: policy [REDACTED] does not match`},
		{name: "SlowDown is retried, body re-read", attempts: 2, answers: []func(http.ResponseWriter, s3Received) bool{
			func(w http.ResponseWriter, got s3Received) bool {
				writeS3Error(w, 503, "SlowDown", "Please reduce your request rate.")
				return true
			},
			func(w http.ResponseWriter, got s3Received) bool { return false }}},
		{name: "500s until the budget is spent", attempts: 3, retryable: true, answers: []func(http.ResponseWriter, s3Received) bool{
			func(w http.ResponseWriter, got s3Received) bool {
				writeS3Error(w, 500, "InternalError", "We encountered an internal error. Please try again.")
				return true
			}},
			wantErr: `desk: upload "logo.png": 500 Internal Server Error: InternalError: We encountered an internal error. Please try again. (gave up after 3 attempts)`,
			hint:    "the server failed; desksync retried with backoff; try again later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int64
			s3 := &s3Server{}
			if tt.answers != nil {
				s3.answer = func(w http.ResponseWriter, got s3Received) bool {
					i := int(n.Add(1)) - 1
					return tt.answers[min(i, len(tt.answers)-1)](w, got)
				}
			}
			srv := httptest.NewServer(s3)
			defer srv.Close()
			c, dbg := newTestClient(t, "http://127.0.0.1:1", func(c *testConfig) { c.Retries = 2 })
			ref, err := decodeRef([]byte(refJSON(srv.URL + "/upload")))
			if err != nil {
				t.Fatal(err)
			}
			err = c.Upload(context.Background(), ref, strings.NewReader("hello"), 5, "logo.png", nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Upload: %v", err)
				}
			} else if want := strings.ReplaceAll(tt.wantErr, "%s", srv.URL+"/upload"); err == nil || err.Error() != want {
				t.Fatalf("error =\n%v\nwant\n%s", err, want)
			}
			got := s3.Received()
			if len(got) != tt.attempts {
				t.Fatalf("S3 saw %d requests, want %d", len(got), tt.attempts)
			}
			for i, r := range got {
				if file := r.Parts[len(r.Parts)-1]; file.Name != "file" || file.MD5 != "5d41402abc4b2a76b9719d911017c592" {
					t.Errorf("attempt %d sent file part %+v", i, file)
				}
			}
			if IsPolicyExpired(err) != tt.expired {
				t.Errorf("IsPolicyExpired = %v", !tt.expired)
			}
			var ae *APIError
			if errors.As(err, &ae) && (ae.Retryable() != tt.retryable || ae.Hint() != tt.hint) {
				t.Errorf("retryable %v hint %q, want %v %q", ae.Retryable(), ae.Hint(), tt.retryable, tt.hint)
			}
			assertNoSecret(t, "debug log", dbg.String(), policy, ref.Params[8].Value)
		})
	}
}

func TestUploadRefusesUnsafeRefs(t *testing.T) {
	c, _ := newTestClient(t, "http://127.0.0.1:1")
	tests := []struct {
		name string
		ref  *Ref
		want string
	}{
		{"plain http on another host", &Ref{URL: "http://uploads.example.com/", File: File{ID: 1}},
			`desk: upload "a.png": unusable answer from http://uploads.example.com/: upload URL uses plain http on a non-loopback host (uploads.example.com)`},
		{"credentials in URL", &Ref{URL: "https://u:p@uploads.example.com/"},
			`desk: upload "a.png": unusable answer from https://REDACTED@uploads.example.com/: upload URL carries a user or password`},
		{"CRLF in a param", &Ref{URL: "https://uploads.example.com/", Params: []Param{{"key", "a\r\nContent-Type: text/html"}}},
			`desk: upload "a.png": unusable answer from https://uploads.example.com/: ref "params" "key": the value contains control characters`},
		{"a param named file", &Ref{URL: "https://uploads.example.com/", Params: []Param{{"File", "x"}}},
			`desk: upload "a.png": unusable answer from https://uploads.example.com/: ref "params": a param is named "file", which is reserved for the upload itself`},
		{"no ref", nil, `desk: upload "a.png": no ref given`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Upload(context.Background(), tt.ref, strings.NewReader("x"), 1, "a.png", nil)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error =\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
	if c.counts.Requests.Load() != 0 {
		t.Errorf("unsafe refs were sent: %+v", c.counts)
	}
}

// failingReader fails after some bytes, like a file on a dying disk.
type failingReader struct{}

func (failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off > 0 {
		return 0, errors.New("input/output error")
	}
	return len(p), nil
}

func TestUploadLocalReadError(t *testing.T) {
	s3 := &s3Server{}
	srv := httptest.NewServer(s3)
	defer srv.Close()
	c, _ := newTestClient(t, "http://127.0.0.1:1")
	ref, _ := decodeRef([]byte(refJSON(srv.URL)))
	err := c.Upload(context.Background(), ref, failingReader{}, 1<<20, "a.bin", nil)
	if want := `desk: upload "a.bin": reading the local file: input/output error`; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	if c.counts.Requests.Load() != 1 {
		t.Errorf("a local read error was retried: %+v", c.counts)
	}
}

func TestUploadEarlyAnswer(t *testing.T) {
	// S3 says 201 without reading the file: the upload did not happen.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, "http://127.0.0.1:1", func(c *testConfig) { c.Retries = -1 })
	ref, _ := decodeRef([]byte(refJSON(srv.URL)))
	err := c.Upload(context.Background(), ref, patternReader{size: 8 << 20}, 8<<20, "big.bin", nil)
	// How many bytes got out before the server hung up varies; the rest does not.
	want := fmt.Sprintf(`desk: upload "big.bin": unusable answer from %s: S3 answered 201 before receiving the whole file (`, srv.URL)
	var re *ResponseError
	if !errors.As(err, &re) || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), " of 8388608 bytes sent)") {
		t.Fatalf("error = %v, want %q…", err, want)
	}
	if c.counts.Uploads.Load() != 0 {
		t.Errorf("counted as uploaded: %+v", c.counts)
	}
}

func TestUploadStall(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadFull(r.Body, make([]byte, 1024)) // read a little, then stop
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release) // before Close, which waits for the handler
	c, _ := newTestClient(t, "http://127.0.0.1:1", func(c *testConfig) { c.Timeout = 200 * time.Millisecond; c.Retries = -1 })
	ref, _ := decodeRef([]byte(refJSON(srv.URL)))
	ref.File.TypeMaxSize = 0 // refJSON's type allows 10 MiB; this test is about a stall
	start := time.Now()
	err := c.Upload(context.Background(), ref, patternReader{size: 64 << 20}, 64<<20, "big.bin", nil)
	if want := `desk: upload "big.bin": the upload stalled: no bytes moved for 200ms`; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stall detected after %v", d)
	}
	var ae *APIError
	if !errors.As(err, &ae) || !ae.Retryable() {
		t.Errorf("a stall should be retryable: %#v", err)
	}
}

func TestUploadSlowButMovingIsNotKilled(t *testing.T) {
	// The whole upload takes longer than Timeout, but bytes keep moving.
	s3 := &s3Server{}
	srv := httptest.NewServer(s3)
	defer srv.Close()
	c, _ := newTestClient(t, "http://127.0.0.1:1", func(c *testConfig) { c.Timeout = 100 * time.Millisecond; c.Retries = -1 })
	ref, _ := decodeRef([]byte(refJSON(srv.URL)))
	slow := slowReader{patternReader{size: 40 * 32 << 10}, 10 * time.Millisecond}
	start := time.Now()
	if err := c.Upload(context.Background(), ref, slow, slow.size, "slow.bin", nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("upload took only %v; the test does not exercise a long upload", d)
	}
}

type slowReader struct {
	patternReader
	delay time.Duration
}

func (s slowReader) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(s.delay)
	return s.patternReader.ReadAt(p, off)
}

// TestUploadMemory uploads 100 MiB and checks the heap does not grow with it.
func TestUploadMemory(t *testing.T) {
	const size = 100 << 20
	s3 := &s3Server{}
	srv := httptest.NewServer(s3)
	defer srv.Close()
	c, _ := newTestClient(t, "http://127.0.0.1:1")
	ref, _ := decodeRef([]byte(refJSON(srv.URL)))
	ref.File.TypeMaxSize = 0 // refJSON's type allows 10 MiB; this test is about memory
	stop := heaptest.Watch()
	err := c.Upload(context.Background(), ref, patternReader{size: size}, size, "big.bin", nil)
	growth := stop()
	if err != nil {
		t.Fatal(err)
	}
	if got := s3.Received()[0].Parts; got[len(got)-1].Size != size {
		t.Fatalf("S3 got %d bytes", got[len(got)-1].Size)
	}
	t.Logf("heap in use grew by at most %d KiB during a 100 MiB upload", growth>>10)
	if growth > 16<<20 {
		t.Errorf("heap grew by %d MiB during a 100 MiB upload; want < 16 MiB", growth>>20)
	}
}

func TestDownload(t *testing.T) {
	var cdnAuth atomic.Value
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cdnAuth.Store(r.Header.Get("Authorization"))
		io.WriteString(w, "from the cdn")
	}))
	defer cdn.Close()
	var siteAuth atomic.Value
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		siteAuth.Store(r.Header.Get("Authorization"))
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		io.WriteString(w, "0123456789")
	}))
	defer site.Close()
	c, _ := newTestClient(t, site.URL)
	ctx := context.Background()

	b, err := c.Download(ctx, "/desk/files/7/download", 10)
	if err != nil || string(b) != "0123456789" || siteAuth.Load() != "Bearer "+testKey {
		t.Errorf("own-host download = %q, %v, auth %q", b, err, siteAuth.Load())
	}
	b, err = c.Download(ctx, cdn.URL+"/f", 100)
	if err != nil || string(b) != "from the cdn" || cdnAuth.Load() != "" {
		t.Errorf("other-host download = %q, %v, auth %q (must be empty)", b, err, cdnAuth.Load())
	}
	_, err = c.Download(ctx, site.URL+"/big", 9)
	if want := fmt.Sprintf(`desk: download "%s/big": unusable answer from %s/big: the file is larger than the 9-byte limit for downloads`, site.URL, site.URL); err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	_, err = c.Download(ctx, site.URL+"/missing", 9)
	if !IsNotFound(err) {
		t.Errorf("error = %v, want not found", err)
	}
	_, err = c.Download(ctx, "http://files.example.com/x", 9)
	if want := `desk: download "http://files.example.com/x": unusable answer from http://files.example.com/x: download URL uses plain http on a non-loopback host (files.example.com)`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}
