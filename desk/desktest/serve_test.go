package desktest

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestServe(t *testing.T) {
	s := New(Options{APIKey: testKey})
	base, stop, err := Serve(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("base URL %q is not loopback", base)
	}
	e := &env{t: t, s: s, url: base}
	r := e.ref("a.txt", "text/plain")
	if !strings.HasPrefix(r.URL, base+"/s3/") {
		t.Errorf("upload URL %q is not on %s", r.URL, base)
	}
	e.uploadFile("b.txt", []byte("b"))
	stop()
	stop() // idempotent
	if res, err := freshClient().Get(base + "/desk/api/v2/files/1.json"); err == nil {
		res.Body.Close()
		t.Errorf("the server still answers after stop: %d", res.StatusCode)
	}
}

// Many clients at once: every upload lands on its own file with its own content, and
// the race detector watches the emulator's locking.
func TestConcurrentUploads(t *testing.T) {
	for _, dir := range []string{"", t.TempDir()} {
		e := newEnv(t, Options{Dir: dir})
		const n = 16
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				name := fmt.Sprintf("f%02d.txt", i)
				body := `{"type":"attachment","filename":"` + name + `","mimeType":"text/plain","disposition":"attachment"}`
				req, _ := http.NewRequest("POST", e.url+"/desk/api/v2/files/ref.json", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testKey)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var raw []byte
				raw, err = readAll(res)
				if err != nil || res.StatusCode != 201 {
					errs <- fmt.Errorf("ref %s: %d %v", name, res.StatusCode, err)
					return
				}
				r := decodeRef(t, raw)
				ct, mp := multipartBody(t, formFor(r, []byte("content of "+name)))
				req, _ = http.NewRequest("POST", r.URL, bytesReader(mp))
				req.Header.Set("Content-Type", ct)
				if res, err = http.DefaultClient.Do(req); err != nil || res.StatusCode != 201 {
					errs <- fmt.Errorf("upload %s: %v %v", name, res, err)
					return
				}
				res.Body.Close()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		files := e.s.Files()
		if len(files) != n {
			t.Fatalf("dir %q: %d files, want %d", dir, len(files), n)
		}
		for i, f := range files {
			c, err := e.s.Content(f.ID)
			if f.ID != int64(i+1) || err != nil || string(c) != "content of "+f.Filename || f.MD5 != md5hex(c) {
				t.Errorf("dir %q: file %+v holds %q (%v)", dir, f, c, err)
			}
		}
	}
}
