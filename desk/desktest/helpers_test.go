package desktest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "secret-api-key"

// fakeClock is a settable clock for policy expiry and rate windows.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is an emulator behind a real HTTP server.
type env struct {
	t   testing.TB
	s   *Server
	url string
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	s := New(opts)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &env{t: t, s: s, url: hs.URL}
}

// response is an answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL.Path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// desk sends a Desk API call with the test key; body "" sends none.
func (e *env) desk(method, path, body string) response {
	e.t.Helper()
	return e.deskAuth(method, path, body, "Bearer "+testKey)
}

func (e *env) deskAuth(method, path, body, auth string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.do(req)
}

// ref is a decoded ref answer with params in the order they were sent.
type ref struct {
	URL    string
	Params [][2]string
	File   map[string]any
}

func (r ref) param(name string) string {
	for _, p := range r.Params {
		if p[0] == name {
			return p[1]
		}
	}
	return ""
}

func (r ref) id() int64 { return int64(r.File["id"].(float64)) }

func (e *env) ref(filename, mimeType string) ref {
	e.t.Helper()
	body := `{"type":"attachment","filename":` + jsonString(filename) + `,"mimeType":` + jsonString(mimeType) + `,"disposition":"attachment"}`
	res := e.desk("POST", "/desk/api/v2/files/ref.json", body)
	if res.status != http.StatusCreated {
		e.t.Fatalf("ref: status %d: %s", res.status, res.body)
	}
	return decodeRef(e.t, res.body)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// decodeRef keeps the params' order, which a map would lose.
func decodeRef(t testing.TB, body []byte) ref {
	t.Helper()
	var raw struct {
		URL    string          `json:"url"`
		Params json.RawMessage `json:"params"`
		File   map[string]any  `json:"file"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("ref answer %s: %v", body, err)
	}
	r := ref{URL: raw.URL, File: raw.File}
	dec := json.NewDecoder(bytes.NewReader(raw.Params))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, _ := dec.Token()
		v, _ := dec.Token()
		r.Params = append(r.Params, [2]string{k.(string), v.(string)})
	}
	return r
}

// formPart is one multipart part; file marks the file part.
type formPart struct {
	name, value string
	file        bool
}

// formFor lays out a ref's params then the file, as a correct client does.
func formFor(r ref, content []byte) []formPart {
	var parts []formPart
	for _, p := range r.Params {
		parts = append(parts, formPart{name: p[0], value: p[1]})
	}
	return append(parts, formPart{name: "file", value: string(content), file: true})
}

func multipartBody(t testing.TB, parts []formPart) (contentType string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.file {
			w, err = mw.CreateFormFile(p.name, "upload.bin")
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.value)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

func (e *env) upload(url string, parts []formPart, header http.Header) response {
	e.t.Helper()
	ct, body := multipartBody(e.t, parts)
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	for k, v := range header {
		req.Header[k] = v
	}
	return e.do(req)
}

// uploadFile runs the three steps and returns the file id.
func (e *env) uploadFile(filename string, content []byte) int64 {
	e.t.Helper()
	r := e.ref(filename, "application/octet-stream")
	if res := e.upload(r.URL, formFor(r, content), nil); res.status != http.StatusCreated {
		e.t.Fatalf("upload: status %d: %s", res.status, res.body)
	}
	path := "/desk/api/v2/files/" + itoa(r.id()) + ".json"
	if res := e.desk("PATCH", path, `{"file":{"state":"active"}}`); res.status != http.StatusOK {
		e.t.Fatalf("activate: status %d: %s", res.status, res.body)
	}
	return r.id()
}

type s3Err struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func decodeS3Error(t testing.TB, body []byte) s3Err {
	t.Helper()
	var e s3Err
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Fatalf("S3 error %q: %v", body, err)
	}
	return e
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func itoa(id int64) string {
	b, _ := json.Marshal(id)
	return string(b)
}

func readAll(res *http.Response) ([]byte, error) {
	defer res.Body.Close()
	return io.ReadAll(res.Body)
}
