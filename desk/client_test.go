package desk

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		hint    string
	}{
		{"https site", Config{URL: "https://x.teamwork.com/", APIKey: "k"}, "", ""},
		{"loopback http", Config{URL: "http://127.0.0.1:8080", APIKey: "k"}, "", ""},
		{"localhost http", Config{URL: "http://localhost:8080", APIKey: "k"}, "", ""},
		{"ipv6 loopback http", Config{URL: "http://[::1]:8080", APIKey: "k"}, "", ""},
		{"empty URL", Config{APIKey: "k"}, "desk: no Desk site URL given",
			"set DESK_URL (or --url) to your site, e.g. https://yoursite.teamwork.com"},
		{"relative URL", Config{URL: "x.teamwork.com", APIKey: "k"},
			`desk: site URL "x.teamwork.com" is not an absolute http(s) URL`,
			"set DESK_URL (or --url) to your site, e.g. https://yoursite.teamwork.com"},
		{"plain http", Config{URL: "http://x.teamwork.com", APIKey: "k"},
			`desk: site URL "http://x.teamwork.com" uses plain http, which would send the API key unencrypted`,
			"use https://; plain http is allowed only for loopback hosts (127.0.0.1, ::1, localhost), as with the emulator"},
		{"plain http on a lookalike", Config{URL: "http://127.0.0.1.evil.com", APIKey: "k"},
			`desk: site URL "http://127.0.0.1.evil.com" uses plain http, which would send the API key unencrypted`,
			"use https://; plain http is allowed only for loopback hosts (127.0.0.1, ::1, localhost), as with the emulator"},
		{"user info", Config{URL: "https://me:secret@x.teamwork.com", APIKey: "k"},
			"desk: site URL must not contain a user or password",
			"pass the API key with DESK_API_KEY (or --api-key), not in the URL"},
		{"query", Config{URL: "https://x.teamwork.com/?a=b", APIKey: "k"},
			`desk: site URL "https://x.teamwork.com/?a=REDACTED" must not have a query or fragment`,
			"set DESK_URL to the site only, e.g. https://yoursite.teamwork.com"},
		{"empty key", Config{URL: "https://x.teamwork.com"}, "desk: no Desk API key given",
			"set DESK_API_KEY (or pass --api-key); find the key in Desk under your profile's API settings"},
		{"key with newline", Config{URL: "https://x.teamwork.com", APIKey: "abc\n"},
			"desk: the Desk API key contains spaces or control characters",
			"check DESK_API_KEY for a stray newline or quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("New error = %v, want %q", err, tt.wantErr)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Hint() != tt.hint {
				t.Errorf("hint = %q, want %q", ce.Hint(), tt.hint)
			}
			assertNoSecret(t, "error", err.Error(), "secret")
		})
	}
}

func TestCreateRefRequestShape(t *testing.T) {
	var gotAuth, gotCT, gotMethod, gotPath string
	var gotBody map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotCT, gotMethod, gotPath = r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.Method, r.URL.Path
		json.NewDecoder(r.Body).Decode(&gotBody)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, refJSON("https://desk-bucket.s3.amazonaws.com/"))
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL+"/")
	ref, err := c.CreateRef(context.Background(), RefRequest{Type: "attachment", Filename: "a&b.png", MimeType: "image/png", Disposition: "attachment"})
	if err != nil {
		t.Fatal(err)
	}
	if gotMethod != "POST" || gotPath != "/desk/api/v2/files/ref.json" {
		t.Errorf("request = %s %s", gotMethod, gotPath)
	}
	if gotAuth != "Bearer "+testKey || gotCT != "application/json" {
		t.Errorf("Authorization = %q, Content-Type = %q", gotAuth, gotCT)
	}
	wantBody := map[string]any{"type": "attachment", "filename": "a&b.png", "mimeType": "image/png", "disposition": "attachment"}
	if !reflect.DeepEqual(gotBody, wantBody) {
		t.Errorf("body = %v, want %v", gotBody, wantBody)
	}
	var names []string
	for _, p := range ref.Params {
		names = append(names, p.Name)
	}
	wantNames := []string{"Content-Type", "bucket", "key", "policy", "success_action_status", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("param order = %v, want %v", names, wantNames)
	}
	if ref.URL != "https://desk-bucket.s3.amazonaws.com/" {
		t.Errorf("URL = %q", ref.URL)
	}
	want := File{ID: 42, Filename: "logo.png", MimeType: "image/png", Disposition: "attachment", Type: "attachment",
		TypeMaxSize: 10485760, State: "temp",
		CreatedAt: time.Date(2019, 3, 14, 11, 53, 38, 103518000, time.UTC), UpdatedAt: time.Date(2019, 3, 14, 11, 53, 38, 103518000, time.UTC)}
	if !reflect.DeepEqual(ref.File, want) {
		t.Errorf("file = %+v\nwant   %+v", ref.File, want)
	}
}

func TestFileCalls(t *testing.T) {
	type seen struct{ method, path, auth, body string }
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.URL.Path, r.Header.Get("Authorization"), string(b)}
		switch {
		case r.URL.Path == "/desk/api/v2/files/404.json":
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"errors":[{"message":"file not found"}]}`)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			io.WriteString(w, `{"file":{"id":7,"filename":"b.png","mimeType":"image/png","disposition":"attachment-inline","type":"attachment","size":14358,"state":"active","downloadURL":"https://x/dl/7","URL":""}}`)
		}
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL)
	ctx := context.Background()
	active, name := "active", "b.png"
	wantFile := &File{ID: 7, Filename: "b.png", MimeType: "image/png", Disposition: "attachment-inline", Type: "attachment",
		Size: 14358, State: "active", DownloadURL: "https://x/dl/7"}

	f, err := c.UpdateFile(ctx, 7, FileUpdate{State: &active, Filename: &name})
	if err != nil || !reflect.DeepEqual(f, wantFile) {
		t.Errorf("UpdateFile = %+v, %v", f, err)
	}
	if want := (seen{"PATCH", "/desk/api/v2/files/7.json", "Bearer " + testKey, `{"file":{"state":"active","filename":"b.png"}}`}); got != want {
		t.Errorf("PATCH request = %+v, want %+v", got, want)
	}

	f, err = c.GetFile(ctx, 7)
	if err != nil || !reflect.DeepEqual(f, wantFile) {
		t.Errorf("GetFile = %+v, %v", f, err)
	}
	if want := (seen{"GET", "/desk/api/v2/files/7.json", "Bearer " + testKey, ""}); got != want {
		t.Errorf("GET request = %+v, want %+v", got, want)
	}

	if err := c.DeleteFile(ctx, 7); err != nil {
		t.Errorf("DeleteFile: %v", err)
	}
	if want := (seen{"DELETE", "/desk/api/v2/files/7.json", "Bearer " + testKey, ""}); got != want {
		t.Errorf("DELETE request = %+v, want %+v", got, want)
	}

	err = c.DeleteFile(ctx, 404)
	if !IsNotFound(err) {
		t.Fatalf("DeleteFile(404) = %v, want a not-found error", err)
	}
	if want := "desk: delete file 404: 404 Not Found: file not found"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestUploadRequestShape(t *testing.T) {
	s3 := &s3Server{}
	srv := httptest.NewServer(s3)
	defer srv.Close()
	c, dbg := newTestClient(t, "http://127.0.0.1:1")
	ref, err := decodeRef([]byte(refJSON(srv.URL + "/")))
	if err != nil {
		t.Fatal(err)
	}
	content := strings.Repeat("PNG data ", 10000)
	var last int64
	err = c.Upload(context.Background(), ref, strings.NewReader(content), int64(len(content)), `we"ird.png`, func(n int64) { last = n })
	if err != nil {
		t.Fatal(err)
	}
	got := s3.Received()
	if len(got) != 1 {
		t.Fatalf("S3 got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.Auth != "" {
		t.Errorf("S3 request carried Authorization %q", r.Auth)
	}
	if r.ContentLength != r.BodyBytes || r.ContentLength <= int64(len(content)) {
		t.Errorf("Content-Length %d, body %d bytes", r.ContentLength, r.BodyBytes)
	}
	sum := md5.Sum([]byte(content))
	var want []formPart
	for _, p := range ref.Params {
		want = append(want, formPart{Name: p.Name, Value: p.Value})
	}
	want = append(want, formPart{Name: "file", Filename: `we"ird.png`, ContentType: "image/png", Size: int64(len(content)), MD5: hex.EncodeToString(sum[:])})
	if !reflect.DeepEqual(r.Parts, want) {
		t.Errorf("parts =\n%+v\nwant\n%+v", r.Parts, want)
	}
	if last != int64(len(content)) {
		t.Errorf("last progress = %d, want %d", last, len(content))
	}
	if s := c.counts; s.Uploads.Load() != 1 || s.Requests.Load() != 1 {
		t.Errorf("stats = %+v", s)
	}
	assertNoSecret(t, "debug log", dbg.String(), ref.Params[3].Value, ref.Params[8].Value)
	if !strings.Contains(dbg.String(), "-> 201 Created") {
		t.Errorf("debug log lacks the upload: %s", dbg)
	}
}

func TestUploadEmptyFile(t *testing.T) {
	s3 := &s3Server{}
	srv := httptest.NewServer(s3)
	defer srv.Close()
	c, _ := newTestClient(t, "http://127.0.0.1:1")
	ref, _ := decodeRef([]byte(refJSON(srv.URL)))
	if err := c.Upload(context.Background(), ref, strings.NewReader(""), 0, "empty.txt", nil); err != nil {
		t.Fatal(err)
	}
	if r := s3.Received()[0]; r.ContentLength != r.BodyBytes {
		t.Errorf("Content-Length %d, body %d", r.ContentLength, r.BodyBytes)
	}
}

// TestSiteSuffixesDropped: a DESK_URL pasted with "/", "/desk" or "/desk/api/v2" after
// the host reaches /desk/api/v2/… once, not /desk/desk/api/v2/….
func TestSiteSuffixesDropped(t *testing.T) {
	var path atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.Path)
		ok(w, r)
	}))
	defer srv.Close()
	for _, tt := range []struct{ suffix, site, path string }{
		{"", "", "/desk/api/v2/files/1.json"},
		{"/", "", "/desk/api/v2/files/1.json"},
		{"/desk", "", "/desk/api/v2/files/1.json"},
		{"/desk/", "", "/desk/api/v2/files/1.json"},
		{"/Desk/API/v2/", "", "/desk/api/v2/files/1.json"},
		{"/desk/api/v2", "", "/desk/api/v2/files/1.json"},
		{"/proxy/desk", "/proxy", "/proxy/desk/api/v2/files/1.json"},
		{"/proxy", "/proxy", "/proxy/desk/api/v2/files/1.json"},
	} {
		c, _ := newTestClient(t, srv.URL+tt.suffix)
		if _, err := c.GetFile(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		if c.Site() != srv.URL+tt.site || path.Load() != tt.path {
			t.Errorf("%q: site %q, request to %q; want %q and %q", tt.suffix, c.Site(), path.Load(), srv.URL+tt.site, tt.path)
		}
	}
}
