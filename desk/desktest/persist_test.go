package desktest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/desksync/desksync/internal/heaptest"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func openEnv(t *testing.T, dir string) *env {
	t.Helper()
	s, err := Open(dir, Options{APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &env{t: t, s: s, url: hs.URL}
}

func TestPersistence(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sandbox")
	e := openEnv(t, dir)
	active := e.uploadFile("a.txt", []byte("kept on disk"))
	pending := e.ref("later.txt", "text/plain") // ref issued before the restart
	gone := e.uploadFile("gone.txt", []byte("deleted"))
	e.desk("DELETE", "/desk/api/v2/files/"+itoa(gone)+".json", "")
	before := e.s.Files()

	// A restart: a new emulator over the same folder.
	e2 := openEnv(t, dir)
	if after := e2.s.Files(); !reflect.DeepEqual(before, after) {
		t.Fatalf("files changed across Open:\nbefore %+v\nafter  %+v", before, after)
	}
	if c, err := e2.s.Content(active); err != nil || string(c) != "kept on disk" {
		t.Errorf("Content after Open = %q, %v", c, err)
	}
	// The secret survived: the old ref's policy still verifies.
	url := e2.url + "/s3/" + Bucket
	if res := e2.upload(url, formFor(pending, []byte("late")), nil); res.status != 201 {
		t.Errorf("upload with a pre-restart ref: %d %s", res.status, res.body)
	}
	if r := e2.ref("next.txt", "text/plain"); r.id() != 4 {
		t.Errorf("ids restart at %d, want 4", r.id())
	}
	// The download token survived as well.
	res := e2.desk("GET", "/desk/api/v2/files/1.json", "")
	if res.status != 200 || !strings.Contains(string(res.body), `"downloadURL":"`+e2.url) {
		t.Errorf("GET after Open: %d %s", res.status, res.body)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Errorf("leftover temp uploads: %v", ents)
	}
	blobs, _ := os.ReadDir(filepath.Join(dir, "blobs"))
	if len(blobs) != 3 {
		t.Errorf("blobs = %v, want 3 objects", blobs)
	}

	// New with Dir persists as well, and Remove purges the blob.
	dir2 := t.TempDir()
	s := New(Options{APIKey: testKey, Dir: dir2})
	hs := httptest.NewServer(s)
	defer hs.Close()
	e3 := &env{t: t, s: s, url: hs.URL}
	id := e3.uploadFile("x.bin", []byte("x"))
	reopened, err := Open(dir2, Options{})
	if err != nil || len(reopened.Files()) != 1 {
		t.Fatalf("Open after New: %v %v", reopened, err)
	}
	if err := s.Remove(id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, "blobs", "1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("blob after Remove: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name, meta, want string
	}{
		{"not JSON", "{", "unexpected EOF"},
		{"unknown version", `{"version":9,"nextID":1,"secret":"ab","files":[]}`, "version 9 is not the known 1"},
		{"unknown field", `{"version":1,"nextID":1,"secret":"ab","files":[],"x":1}`, `json: unknown field "x"`},
		{"no secret", `{"version":1,"nextID":1,"files":[]}`, "secret or nextID missing"},
		{"id beyond nextID", `{"version":1,"nextID":2,"secret":"ab","files":[{"id":5}]}`, "file records are inconsistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, metaFile), []byte(tt.meta), 0o644)
			_, err := Open(dir, Options{})
			var oe *OpenError
			if !errors.As(err, &oe) {
				t.Fatalf("err = %v, want *OpenError", err)
			}
			want := fmt.Sprintf("desktest: %s: cannot load the emulator's state: %s", filepath.Join(dir, metaFile), tt.want)
			if err.Error() != want {
				t.Errorf("err = %q\nwant  %q", err, want)
			}
			if hint := "the sandbox is only a test double; delete " + dir + " to start it afresh"; oe.Hint() != hint {
				t.Errorf("hint = %q", oe.Hint())
			}
		})
	}
}

// pattern is a deterministic, allocation-free stream of n bytes.
type pattern struct{ n, off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		b[i] = byte((p.off + int64(i)) * 7 >> 3)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// streamUpload posts size pattern bytes without holding them in memory and returns
// the answer and the MD5 of what was sent.
func streamUpload(t testing.TB, client *http.Client, r ref, size int64) (*http.Response, string) {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	h := md5.New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, p := range r.Params {
			mw.WriteField(p[0], p[1])
		}
		w, _ := mw.CreateFormFile("file", "big.bin")
		_, err := io.Copy(io.MultiWriter(w, h), &pattern{n: size})
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest("POST", r.URL, pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	// A server that answered early stopped reading; unblock the writer before
	// reading its digest.
	pr.CloseWithError(io.ErrClosedPipe)
	<-done
	return res, hex.EncodeToString(h.Sum(nil))
}

func TestLargeUploadKeepsHeapSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 200 MiB")
	}
	const size = 200 << 20
	e := openEnv(t, t.TempDir())
	r := e.ref("big.bin", "application/octet-stream")

	stop := heaptest.Watch()
	res, sum := streamUpload(t, http.DefaultClient, r, size)
	grew := stop()

	if res.StatusCode != 201 || res.Header.Get("ETag") != `"`+sum+`"` {
		t.Fatalf("upload: %d ETag %s, want %s", res.StatusCode, res.Header.Get("ETag"), sum)
	}
	if f := e.s.Files()[0]; f.MD5 != sum {
		t.Errorf("recorded MD5 %s, want %s", f.MD5, sum)
	}
	t.Logf("heap in use grew by at most %.1f MiB during a %d MiB upload", float64(grew)/(1<<20), size>>20)
	if grew > 32<<20 {
		t.Errorf("heap grew by %d MiB during the upload; the file must be streamed to disk", grew>>20)
	}
}

// BenchmarkUpload measures the emulator's S3 POST path over loopback HTTP: multipart
// parsing, policy and signature checks, MD5, and the blob store (memory or Dir).
func BenchmarkUpload(b *testing.B) {
	for _, store := range []string{"memory", "dir"} {
		for _, size := range []int{4 << 10, 16 << 20} {
			name := fmt.Sprintf("%s/%dKiB", store, size>>10)
			b.Run(name, func(b *testing.B) {
				opts := Options{APIKey: testKey}
				if store == "dir" {
					opts.Dir = b.TempDir()
				}
				e := newEnv(b, opts)
				r := e.ref("bench.bin", "application/octet-stream")
				// The same temp file is uploaded again and again (the last upload
				// wins), so storage does not grow with b.N.
				ct, body := multipartBody(b, formFor(r, bytes.Repeat([]byte{'x'}, size)))
				b.SetBytes(int64(size))
				b.ResetTimer()
				for b.Loop() {
					req, _ := http.NewRequest("POST", r.URL, bytes.NewReader(body))
					req.Header.Set("Content-Type", ct)
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 201 {
						b.Fatalf("status %d", res.StatusCode)
					}
				}
			})
		}
	}
}

// A client streaming far more than allowed still gets S3's answer, not a reset, and
// nothing is stored.
func TestTooLargeStream(t *testing.T) {
	for _, dir := range []string{"", t.TempDir()} {
		e := newEnv(t, Options{MaxUploadSize: 1 << 20, Dir: dir})
		r := e.ref("a.bin", "application/octet-stream")
		res, _ := streamUpload(t, http.DefaultClient, r, 50<<20)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("dir %q: status %d, want 400", dir, res.StatusCode)
		}
		if f := e.s.Files()[0]; f.MD5 != "" {
			t.Errorf("dir %q: stored %+v", dir, f)
		}
		if dir != "" {
			if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
				t.Errorf("temp upload left behind: %v", ents)
			}
		}
	}
}
