package desk

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/desksync/desksync/internal/desktime"
	"github.com/desksync/desksync/internal/syncbuf"
)

// testKey is distinctive so that a leak into any output is easy to spot.
const testKey = "dk_live_7Hq2ZpX9vR4mW8sL"

// newTestClient returns a Client for a loopback test server with fast backoff and a
// --debug buffer; mods adjust the Config.
// testConfig is what a test may set: the public Config and the clock and backoff knobs.
type testConfig struct {
	Config
	desktime.Knobs
}

func newTestClient(t *testing.T, url string, mods ...func(*testConfig)) (*Client, *syncbuf.Buffer) {
	t.Helper()
	dbg := &syncbuf.Buffer{}
	cfg := testConfig{Config{URL: url, APIKey: testKey, Debug: dbg}, desktime.Knobs{BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := NewTuned(cfg.Config, cfg.Knobs)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, dbg
}

// fakeTime is a clock that Sleep advances instantly, recording each wait.
type fakeTime struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeTime() *fakeTime { return &fakeTime{now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)} }

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slept = append(f.slept, d)
	f.now = f.now.Add(d)
	return nil
}

func (f *fakeTime) Slept() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.slept...)
}

func (f *fakeTime) use(c *testConfig) { c.Clock, c.Sleep = f.Now, f.Sleep }

// refJSON is a ref answer shaped like the API documentation's example (fileName,
// params in Desk's order), pointing the upload at uploadURL.
func refJSON(uploadURL string) string {
	return `{
"url": "` + uploadURL + `",
"params": {
"Content-Type": "image/png",
"bucket": "desk-bucket",
"key": "uploads/42/logo.png",
"policy": "eyJleHBpcmF0aW9uIjoiMjAyNi0xMS0yNlQxMTowMDowMFoifQ==",
"success_action_status": "201",
"x-amz-algorithm": "AWS4-HMAC-SHA256",
"x-amz-credential": "AKIAEXAMPLE/20261126/us-east-1/s3/aws4_request",
"x-amz-date": "20261126T100000Z",
"x-amz-signature": "3f1c0ffee5ca1ab1e0ddba11deadbeefcafe0123456789abcdef0123456789ab"
},
"file": {
"id": 42,
"mimeType": "image/png",
"fileName": "logo.png",
"size": 0,
"disposition": "attachment",
"type": {"ContentTypes": ["image/png"], "MaxSize": 10485760, "Name": "attachment"},
"createdAt": "2019-03-14T11:53:38.103518Z",
"updatedAt": "2019-03-14T11:53:38.103518Z",
"createdBy": {"id": 1, "type": "users"},
"state": "temp"
}
}`
}

// formPart is one field of a multipart POST as the S3 stand-in received it.
type formPart struct {
	Name, Filename, ContentType, Value string
	Size                               int64
	MD5                                string
}

// s3Received is everything the S3 stand-in saw of one POST.
type s3Received struct {
	Auth          string
	ContentLength int64 // as declared
	BodyBytes     int64 // as actually received
	Parts         []formPart
}

// s3Server is a stand-in for S3's POST endpoint: it streams the multipart form
// (never buffering the file) and answers like S3. answer may override the reply.
type s3Server struct {
	mu       sync.Mutex
	received []s3Received
	// answer, if set, writes the reply instead of the 201 PostResponse.
	answer func(w http.ResponseWriter, got s3Received) bool
}

func (s *s3Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got := s3Received{Auth: r.Header.Get("Authorization"), ContentLength: r.ContentLength}
	body := &countingReader{r: r.Body}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		http.Error(w, "bad content type", http.StatusBadRequest)
		return
	}
	mr := multipart.NewReader(body, params["boundary"])
	var fileMD5 string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, "bad multipart: "+err.Error(), http.StatusBadRequest)
			return
		}
		fp := formPart{Name: p.FormName(), Filename: p.FileName(), ContentType: p.Header.Get("Content-Type")}
		if fp.Name == "file" {
			h := md5.New()
			fp.Size, _ = io.Copy(h, p)
			fp.MD5 = hex.EncodeToString(h.Sum(nil))
			fileMD5 = fp.MD5
		} else {
			v, _ := io.ReadAll(io.LimitReader(p, 1<<20))
			fp.Value = string(v)
		}
		got.Parts = append(got.Parts, fp)
	}
	io.Copy(io.Discard, body)
	got.BodyBytes = body.n
	s.mu.Lock()
	s.received = append(s.received, got)
	s.mu.Unlock()
	if s.answer != nil && s.answer(w, got) {
		return
	}
	w.Header().Set("ETag", `"`+fileMD5+`"`)
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<PostResponse><Location>/desk-bucket/uploads/42/logo.png</Location><Bucket>desk-bucket</Bucket><Key>uploads/42/logo.png</Key><ETag>"%s"</ETag></PostResponse>`, fileMD5)
}

func (s *s3Server) Received() []s3Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]s3Received(nil), s.received...)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// patternReader is a ReaderAt of size bytes generated on the fly (byte i is i*7 mod
// 251), so large uploads need no memory or disk.
type patternReader struct{ size int64 }

func (p patternReader) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	n := len(b)
	if rem := p.size - off; int64(n) > rem {
		n = int(rem)
	}
	for i := 0; i < n; i++ {
		b[i] = byte((off + int64(i)) * 7 % 251)
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// assertNoSecret fails if the API key or another secret shows up in s.
func assertNoSecret(t *testing.T, what, s string, secrets ...string) {
	t.Helper()
	for _, sec := range append([]string{testKey}, secrets...) {
		if strings.Contains(s, sec) {
			t.Errorf("%s contains the secret %q:\n%s", what, sec, s)
		}
	}
}
