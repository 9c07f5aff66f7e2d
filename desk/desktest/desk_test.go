package desktest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// errorsOf decodes Desk's error document back to compact JSON for exact comparison.
func errorsOf(t *testing.T, body []byte) string {
	t.Helper()
	var doc struct {
		Errors []apiError `json:"errors"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || len(doc.Errors) == 0 {
		t.Fatalf("not a Desk error document: %s (%v)", body, err)
	}
	b, _ := json.Marshal(doc.Errors)
	return string(b)
}

func TestRefValidation(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"unknown type", `{"type":"video","filename":"a.mp4","mimeType":"video/mp4","disposition":"attachment"}`,
			`[{"code":"validation","field":"type","detail":"\"video\" is not a known file type; use one of attachment, image, avatar, logo"}]`},
		{"missing type", `{"filename":"a.txt","mimeType":"text/plain","disposition":"attachment"}`,
			`[{"code":"validation","field":"type","detail":"is required"}]`},
		{"empty filename", `{"type":"attachment","filename":"","mimeType":"text/plain","disposition":"attachment"}`,
			`[{"code":"validation","field":"filename","detail":"is required"}]`},
		{"filename with a slash", `{"type":"attachment","filename":"a/b.txt","mimeType":"text/plain","disposition":"attachment"}`,
			`[{"code":"validation","field":"filename","detail":"must not contain \"/\""}]`},
		{"filename with a control character", `{"type":"attachment","filename":"a\nb.txt","mimeType":"text/plain","disposition":"attachment"}`,
			`[{"code":"validation","field":"filename","detail":"must not contain control characters"}]`},
		{"filename too long", `{"type":"attachment","filename":"` + strings.Repeat("a", 256) + `","mimeType":"text/plain","disposition":"attachment"}`,
			`[{"code":"validation","field":"filename","detail":"must be at most 255 bytes"}]`},
		{"mimeType with a parameter", `{"type":"attachment","filename":"a.txt","mimeType":"text/plain; charset=utf-8","disposition":"attachment"}`,
			`[{"code":"validation","field":"mimeType","detail":"\"text/plain; charset=utf-8\" must be a bare type/subtype without parameters"}]`},
		{"mimeType without a subtype", `{"type":"attachment","filename":"a.txt","mimeType":"text","disposition":"attachment"}`,
			`[{"code":"validation","field":"mimeType","detail":"\"text\" is not a well-formed media type (type/subtype)"}]`},
		{"mimeType malformed", `{"type":"attachment","filename":"a.txt","mimeType":"text/pl ain","disposition":"attachment"}`,
			`[{"code":"validation","field":"mimeType","detail":"\"text/pl ain\" is not a well-formed media type (type/subtype)"}]`},
		{"missing mimeType", `{"type":"attachment","filename":"a.txt","disposition":"attachment"}`,
			`[{"code":"validation","field":"mimeType","detail":"is required"}]`},
		{"image type with a PDF", `{"type":"image","filename":"a.pdf","mimeType":"application/pdf","disposition":"attachment"}`,
			`[{"code":"validation","field":"mimeType","detail":"\"application/pdf\" is not allowed for type image; use an image/* type or type attachment"}]`},
		{"bad disposition", `{"type":"attachment","filename":"a.txt","mimeType":"text/plain","disposition":"inline"}`,
			`[{"code":"validation","field":"disposition","detail":"must be attachment or attachment-inline"}]`},
		{"every field wrong at once", `{"type":"","filename":"","mimeType":"","disposition":""}`,
			`[{"code":"validation","field":"type","detail":"is required"},{"code":"validation","field":"filename","detail":"is required"},` +
				`{"code":"validation","field":"mimeType","detail":"is required"},{"code":"validation","field":"disposition","detail":"must be attachment or attachment-inline"}]`},
		{"unknown field", `{"type":"attachment","filename":"a.txt","mimeType":"text/plain","disposition":"attachment","size":3}`,
			`[{"code":"invalid_json","field":"size","detail":"unknown field \"size\""}]`},
		{"wrong JSON type", `{"type":"attachment","filename":7,"mimeType":"text/plain","disposition":"attachment"}`,
			`[{"code":"invalid_json","field":"filename","detail":"must be a JSON string, not number"}]`},
		{"not JSON", `type=attachment`,
			`[{"code":"invalid_json","detail":"request body is not valid JSON: invalid character 'y' in literal true (expecting 'r')"}]`},
		{"two JSON values", `{"type":"attachment","filename":"a.txt","mimeType":"text/plain","disposition":"attachment"}{}`,
			`[{"code":"invalid_json","detail":"request body holds more than one JSON value"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Options{})
			res := e.desk("POST", "/desk/api/v2/files/ref.json", tt.body)
			if res.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", res.status, res.body)
			}
			if got := errorsOf(t, res.body); got != tt.want {
				t.Errorf("errors =\n%s\nwant\n%s", got, tt.want)
			}
			if n := len(e.s.Files()); n != 0 {
				t.Errorf("a refused ref created %d files", n)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name string
		auth string
		want int
	}{
		{"bearer", "Bearer " + testKey, http.StatusCreated},
		{"basic with the key as user", basic(testKey, "X"), http.StatusCreated},
		{"basic with the key as password", basic("me", testKey), http.StatusCreated},
		{"no header", "", http.StatusUnauthorized},
		{"wrong bearer", "Bearer nope", http.StatusUnauthorized},
		{"bearer without a key", "Bearer ", http.StatusUnauthorized},
		{"lowercase scheme", "bearer " + testKey, http.StatusUnauthorized},
		{"basic with neither", basic("me", "nope"), http.StatusUnauthorized},
		{"key without a scheme", testKey, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Options{})
			res := e.deskAuth("POST", "/desk/api/v2/files/ref.json",
				`{"type":"attachment","filename":"a.txt","mimeType":"text/plain","disposition":"attachment"}`, tt.auth)
			if res.status != tt.want {
				t.Fatalf("status %d, want %d: %s", res.status, tt.want, res.body)
			}
			if tt.want == http.StatusUnauthorized {
				want := `[{"code":"unauthorized","detail":"missing or wrong API key; send Authorization: Bearer \u003ckey\u003e"}]`
				if got := errorsOf(t, res.body); got != want {
					t.Errorf("errors = %s, want %s", got, want)
				}
			}
		})
	}
	// Every Desk endpoint is guarded, not only ref.
	e := newEnv(t, Options{})
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		if res := e.deskAuth(m, "/desk/api/v2/files/1.json", "", ""); res.status != http.StatusUnauthorized {
			t.Errorf("%s without auth: status %d", m, res.status)
		}
	}
	// An emulator without a key authorizes nobody, not everybody.
	none := New(Options{})
	req, _ := http.NewRequest("GET", "http://x/desk/api/v2/files/1.json", nil)
	req.Header.Set("Authorization", "Bearer ")
	rec := httptest.NewRecorder()
	none.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("empty APIKey: status %d", rec.Code)
	}
}

func basic(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

func TestPatch(t *testing.T) {
	tests := []struct {
		name       string
		upload     bool // upload an object before the PATCH
		path, body string
		wantStatus int
		want       string // errors, or the file's state/filename/disposition/size
	}{
		{"unknown id", false, "/desk/api/v2/files/99.json", `{"file":{"state":"active"}}`, 404,
			`[{"code":"not_found","detail":"file 99 not found"}]`},
		{"activate without an object", false, "/desk/api/v2/files/1.json", `{"file":{"state":"active"}}`, 400,
			`[{"code":"validation","field":"state","detail":"file 1 has no uploaded object; POST it to the upload URL before activating"}]`},
		{"unknown field", true, "/desk/api/v2/files/1.json", `{"file":{"state":"active","size":4}}`, 400,
			`[{"code":"invalid_json","field":"size","detail":"unknown field \"size\""}]`},
		{"unknown top-level field", true, "/desk/api/v2/files/1.json", `{"state":"active"}`, 400,
			`[{"code":"invalid_json","field":"state","detail":"unknown field \"state\""}]`},
		{"no file object", true, "/desk/api/v2/files/1.json", `{}`, 400,
			`[{"code":"validation","field":"file","detail":"is required"}]`},
		{"other state", true, "/desk/api/v2/files/1.json", `{"file":{"state":"deleted"}}`, 400,
			`[{"code":"validation","field":"state","detail":"\"deleted\" cannot be set; the only state a client sets is active"}]`},
		{"bad filename and disposition", true, "/desk/api/v2/files/1.json", `{"file":{"filename":"a/b","disposition":"x"}}`, 400,
			`[{"code":"validation","field":"filename","detail":"must not contain \"/\""},{"code":"validation","field":"disposition","detail":"must be attachment or attachment-inline"}]`},
		{"activate", true, "/desk/api/v2/files/1.json", `{"file":{"state":"active"}}`, 200,
			"active a.txt attachment 4"},
		{"activate, rename and change disposition", true, "/desk/api/v2/files/1.json",
			`{"file":{"state":"active","filename":"b.txt","disposition":"attachment-inline"}}`, 200,
			"active b.txt attachment-inline 4"},
		{"rename while temp", false, "/desk/api/v2/files/1.json", `{"file":{"filename":"c.txt"}}`, 200,
			"temp c.txt attachment 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Options{})
			r := e.ref("a.txt", "text/plain")
			if tt.upload {
				e.upload(r.URL, formFor(r, []byte("abcd")), nil)
			}
			res := e.desk("PATCH", tt.path, tt.body)
			if res.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", res.status, tt.wantStatus, res.body)
			}
			if res.status != 200 {
				if got := errorsOf(t, res.body); got != tt.want {
					t.Errorf("errors =\n%s\nwant\n%s", got, tt.want)
				}
				return
			}
			var doc struct{ File fileWire }
			json.Unmarshal(res.body, &doc)
			f := doc.File
			if got := strings.Join([]string{f.State, f.Filename, f.Disposition, itoa(f.Size)}, " "); got != tt.want {
				t.Errorf("file = %q, want %q", got, tt.want)
			}
			if rec := e.s.Files()[0]; rec.State != f.State || rec.Filename != f.Filename || rec.Size != f.Size {
				t.Errorf("record %+v differs from the answer %+v", rec, f)
			}
		})
	}
}

func TestGetDelete(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, Options{Clock: clock.Now})
	id := e.uploadFile("a.txt", []byte("data"))
	temp := e.ref("t.txt", "text/plain")

	get := func(id string) (int, fileWire, []byte) {
		res := e.desk("GET", "/desk/api/v2/files/"+id+".json", "")
		var doc struct{ File fileWire }
		json.Unmarshal(res.body, &doc)
		return res.status, doc.File, res.body
	}
	if st, f, body := get(itoa(temp.id())); st != 200 || f.State != "temp" || f.DownloadURL != "" {
		t.Errorf("GET temp: %d %s", st, body)
	}
	if st, f, body := get(itoa(id)); st != 200 || f.State != "active" || f.DownloadURL == "" || f.DeletedAt != "" {
		t.Errorf("GET active: %d %s", st, body)
	}
	_, active, _ := get(itoa(id))

	clock.Advance(time.Hour)
	if res := e.desk("DELETE", "/desk/api/v2/files/1.json", ""); res.status != http.StatusNoContent || len(res.body) != 0 {
		t.Fatalf("DELETE: %d %s", res.status, res.body)
	}
	st, f, body := get("1")
	if st != 200 || f.State != "deleted" || f.DeletedAt != "2026-11-26T11:00:00Z" || f.UpdatedAt != "2026-11-26T10:00:00Z" ||
		f.DeletedBy == nil || f.DownloadURL != "" {
		t.Errorf("GET deleted: %d %s", st, body)
	}
	req, _ := http.NewRequest("GET", active.DownloadURL, nil)
	if res := e.do(req); res.status != http.StatusNotFound {
		t.Errorf("download of a deleted file: status %d", res.status)
	}
	for _, tc := range []struct{ method, path, want string }{
		{"DELETE", "/desk/api/v2/files/1.json", `[{"code":"not_found","detail":"file 1 not found"}]`},
		{"DELETE", "/desk/api/v2/files/77.json", `[{"code":"not_found","detail":"file 77 not found"}]`},
		{"GET", "/desk/api/v2/files/77.json", `[{"code":"not_found","detail":"file 77 not found"}]`},
		{"PATCH", "/desk/api/v2/files/1.json", `[{"code":"not_found","detail":"file 1 not found"}]`},
		{"GET", "/desk/api/v2/files/abc.json", `[{"code":"not_found","detail":"no Desk endpoint at /desk/api/v2/files/abc.json"}]`},
		{"GET", "/desk/api/v2/files/01.json", `[{"code":"not_found","detail":"no Desk endpoint at /desk/api/v2/files/01.json"}]`},
	} {
		body := ""
		if tc.method == "PATCH" {
			body = `{"file":{"filename":"x"}}`
		}
		res := e.desk(tc.method, tc.path, body)
		if res.status != 404 {
			t.Errorf("%s %s: status %d", tc.method, tc.path, res.status)
			continue
		}
		if got := errorsOf(t, res.body); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.method, tc.path, got, tc.want)
		}
	}
	if res := e.desk("PUT", "/desk/api/v2/files/1.json", ""); res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != "GET, PATCH, DELETE" {
		t.Errorf("PUT: %d Allow %q", res.status, res.header.Get("Allow"))
	}

	// A deleted temp file can no longer be uploaded to.
	e.desk("DELETE", "/desk/api/v2/files/"+itoa(temp.id())+".json", "")
	if res := e.upload(temp.URL, formFor(temp, []byte("x")), nil); res.status != 403 {
		t.Errorf("upload to a deleted temp file: %d %s", res.status, res.body)
	}
}

func TestRemoteEdits(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.uploadFile("a.txt", []byte("v1"))

	if err := e.s.Edit(id, func(f *FileRecord) { f.Filename, f.ID, f.MD5 = "renamed.txt", 42, "bogus" }); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetContent(id, []byte("version two")); err != nil {
		t.Fatal(err)
	}
	res := e.desk("GET", "/desk/api/v2/files/1.json", "")
	var doc struct{ File fileWire }
	json.Unmarshal(res.body, &doc)
	if doc.File.Filename != "renamed.txt" || doc.File.Size != 11 || doc.File.ID != 1 {
		t.Errorf("after Edit and SetContent: %s", res.body)
	}
	req, _ := http.NewRequest("GET", doc.File.DownloadURL, nil)
	if d := e.do(req); string(d.body) != "version two" || d.header.Get("ETag") != `"`+md5hex([]byte("version two"))+`"` {
		t.Errorf("download = %q ETag %s", d.body, d.header.Get("ETag"))
	}
	if f := e.s.Files()[0]; f.MD5 != md5hex([]byte("version two")) {
		t.Errorf("MD5 = %s; Edit must not change it, SetContent must", f.MD5)
	}

	clock := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	e.s.SetClock(func() time.Time { return clock })
	e.s.Edit(id, func(f *FileRecord) { f.State = "deleted" })
	res = e.desk("GET", "/desk/api/v2/files/1.json", "")
	if json.Unmarshal(res.body, &doc); doc.File.State != "deleted" || doc.File.DeletedAt != "2026-11-26T12:00:00Z" {
		t.Errorf("after a remote delete: %s", res.body)
	}

	if err := e.s.Remove(id); err != nil {
		t.Fatal(err)
	}
	if res := e.desk("GET", "/desk/api/v2/files/1.json", ""); res.status != 404 {
		t.Errorf("GET after Remove: %d", res.status)
	}
	if len(e.s.Files()) != 0 {
		t.Errorf("Files after Remove = %v", e.s.Files())
	}
	for name, err := range map[string]error{
		"Edit":       e.s.Edit(id, func(*FileRecord) {}),
		"Remove":     e.s.Remove(id),
		"SetContent": e.s.SetContent(id, nil),
	} {
		if err == nil || err.Error() != "desktest: no file 1" {
			t.Errorf("%s of a purged file: %v", name, err)
		}
	}
	if _, err := e.s.Content(id); err == nil || err.Error() != "desktest: no file 1" {
		t.Errorf("Content of a purged file: %v", err)
	}
	temp := e.ref("b.txt", "text/plain")
	if _, err := e.s.Content(temp.id()); err == nil || err.Error() != "desktest: file 2 has no uploaded object" {
		t.Errorf("Content of a file without object: %v", err)
	}
}
