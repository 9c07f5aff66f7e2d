package command

// End-to-end proofs for SECURITY.md: desksync runs as a subprocess (the
// "desksync" command TestMain puts on PATH), against the emulator or a deliberately
// malicious loopback server, and every byte it writes is searched for secrets.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/state"
)

// randomKey is a long random API key: any leak of it into output is unmistakable.
func randomKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "dk_" + hex.EncodeToString(b)
}

// cliRun is one finished desksync subprocess.
type cliRun struct {
	args           []string
	stdout, stderr string
	code           int
	took           time.Duration
}

// runCLI runs desksync in dir with only the given environment (plus PATH and HOME),
// so no DESK_* variable of the developer's leaks in. It fails the test when the
// process crashes (a Go panic) or does not end within 60 s (a hang).
func runCLI(t *testing.T, dir string, env []string, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "desksync", args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "NO_COLOR=1"}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := cliRun{args: args, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("desksync %s hung: killed after %v\nstderr:\n%s", strings.Join(args, " "), r.took, r.stderr)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("desksync %s: %v", strings.Join(args, " "), err)
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("desksync %s crashed:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

// writeFiles writes name -> content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// everyFile returns the content of every file under dir by path: state, backup, plan
// files, locks, temp files — whatever desksync left there.
func everyFile(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		out[p] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// secretForms are the ways a secret could be spelled in output: as is, and
// query-escaped (as in a URL).
func secretForms(s string) []string {
	forms := []string{s}
	if q := url.QueryEscape(s); q != s {
		forms = append(forms, q)
	}
	return forms
}

// assertNoSecrets fails for every secret found in any of the texts.
func assertNoSecrets(t *testing.T, texts map[string]string, secrets map[string]string) {
	t.Helper()
	for where, text := range texts {
		for what, secret := range secrets {
			for _, form := range secretForms(secret) {
				if strings.Contains(text, form) {
					t.Errorf("%s contains the %s", where, what)
				}
			}
		}
	}
}

// recorder keeps the answers of Desk calls that hand out secrets: refs (policy,
// signature) and file records (download URLs with their tokens).
type recorder struct {
	next http.Handler
	// intercept, if set, may answer a request itself (returning true).
	intercept func(w http.ResponseWriter, r *http.Request) bool

	mu      sync.Mutex
	answers [][]byte
}

func (h *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.intercept != nil && h.intercept(w, r) {
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/desk/api/v2/files/") {
		h.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
	h.mu.Lock()
	h.answers = append(h.answers, rec.Body.Bytes())
	h.mu.Unlock()
}

// secrets returns every policy, signature, credential and download token the server
// handed out, named for error messages.
func (h *recorder) secrets(t *testing.T) map[string]string {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{}
	for _, a := range h.answers {
		var v struct {
			Params map[string]string `json:"params"`
			File   struct {
				DownloadURL string `json:"downloadURL"`
			} `json:"file"`
		}
		if json.Unmarshal(a, &v) != nil {
			continue
		}
		for name, value := range v.Params {
			switch strings.ToLower(name) {
			case "policy", "x-amz-signature", "x-amz-credential":
				out[fmt.Sprintf("%s %d", name, len(out))] = value
			}
		}
		if v.File.DownloadURL != "" {
			u, err := url.Parse(v.File.DownloadURL)
			if err != nil {
				t.Fatalf("download URL %q: %v", v.File.DownloadURL, err)
			}
			if k := u.Query().Get("k"); k != "" {
				out[fmt.Sprintf("download token %d", len(out))] = k
			}
		}
	}
	return out
}

// TestSecretsNeverWritten runs a full lifecycle — apply (create), plan --out and
// --format json, apply of the saved plan (update, replace, delete, create and one
// failing entry whose error echoes the key), state list/show/rm, plan --diff,
// refresh and import, all with --debug where they talk to Desk — and then searches everything
// desksync printed or left on disk for the API key and for every policy, signature,
// credential and download token the emulator issued (SECURITY.md).
func TestSecretsNeverWritten(t *testing.T) {
	key := randomKey(t)
	emu := desktest.New(desktest.Options{APIKey: key})
	var echoed atomic.Int64
	h := &recorder{next: emu}
	// A hostile touch: the ref for echo.txt is refused with the key echoed back, in
	// the message and in a field name.
	h.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/desk/api/v2/files/ref.json" {
			return false
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !bytes.Contains(body, []byte(`"echo.txt"`)) {
			return false
		}
		echoed.Add(1)
		w.Header().Set("X-Your-Key", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"errors":[{"field":"filename","message":"%s is not allowed to upload"}]}`, r.Header.Get("Authorization"))
		return true
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	dir := t.TempDir()
	env := []string{"DESK_URL=" + srv.URL, "DESK_API_KEY=" + key}
	writeFiles(t, dir, map[string]string{
		"desksync.yaml": "version: 1\nattachments:\n  - path: a.md\n  - path: b.md\n  - path: c.md\n",
		"a.md":          "# A\n\nfirst\n",
		"b.md":          "# B\n",
		"c.md":          "# C\n",
	})
	var runs []cliRun
	run := func(wantCode int, args ...string) cliRun {
		t.Helper()
		r := runCLI(t, dir, env, args...)
		runs = append(runs, r)
		if r.code != wantCode {
			t.Fatalf("desksync %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, wantCode, r.stdout, r.stderr)
		}
		return r
	}

	// 1. Create three files.
	first := run(0, "apply", "--auto-approve", "--debug", "--format", "json")

	// 2. Plan an update (a.md renamed), a replace (b.md changed), a delete (c.md
	// gone), a create (d.md) and a failing create (echo.txt); save it and show it.
	writeFiles(t, dir, map[string]string{
		"desksync.yaml": "version: 1\nattachments:\n  - path: a.md\n    filename: A.md\n  - path: b.md\n  - path: d.md\n  - path: echo.txt\n",
		"b.md":          "# B, changed\n",
		"d.md":          "# D\n",
		"echo.txt":      "echo\n",
	})
	run(0, "plan", "--out", "saved.plan")
	run(0, "plan", "--format", "json")
	run(0, "plan", "--format", "markdown")

	// 3. Apply the saved plan: everything but echo.txt succeeds.
	second := run(1, "apply", "saved.plan", "--debug", "--format", "json")
	wantLine := `echo.txt: create ref: 400 Bad Request: filename: Bearer [REDACTED] is not allowed to upload`
	if !strings.Contains(second.stderr, wantLine) {
		t.Errorf("apply stderr lacks the scrubbed failure %q:\n%s", wantLine, second.stderr)
	}

	// 4. Read-only commands, and Desk reads with --debug (downloads carry a token).
	run(0, "state", "list")
	run(0, "state", "show", "b.md")
	writeFiles(t, dir, map[string]string{"a.md": "# A\n\nsecond\n"})
	diff := run(0, "plan", "--diff", "--refresh", "--debug")
	run(0, "refresh", "--debug")

	// 5. Forget d.md and adopt its Desk file again, with --debug.
	show := run(0, "state", "show", "d.md")
	var rec struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(show.stdout), &rec); err != nil || rec.ID == 0 {
		t.Fatalf("state show d.md: %v\n%s", err, show.stdout)
	}
	run(0, "state", "rm", "d.md")
	imp := run(0, "import", "d.md", fmt.Sprint(rec.ID), "--debug")
	if !strings.Contains(imp.stderr, fmt.Sprintf("desk: GET %s/desk/api/v2/files/%d.json -> 200 OK", srv.URL, rec.ID)) {
		t.Errorf("import --debug traced no GET:\n%s", imp.stderr)
	}

	// The run must have exercised what it claims to, or the search below proves nothing.
	secrets := h.secrets(t)
	var policies, tokens int
	for what := range secrets {
		switch {
		case strings.HasPrefix(what, "policy"):
			policies++
		case strings.HasPrefix(what, "download token"):
			tokens++
		}
	}
	if policies < 5 || tokens < 1 || echoed.Load() == 0 {
		t.Fatalf("the run handed out %d policies and %d download tokens and echoed the key %d times; want at least 5, 1, 1",
			policies, tokens, echoed.Load())
	}
	for _, r := range []cliRun{first, second, diff} {
		if !strings.Contains(r.stderr, "desk: POST ") && !strings.Contains(r.stderr, "desk: GET ") {
			t.Errorf("desksync %s --debug traced nothing:\n%s", strings.Join(r.args, " "), r.stderr)
		}
	}
	if !strings.Contains(diff.stderr, "/desktest/download/") || !strings.Contains(diff.stderr, "?k=REDACTED") {
		t.Errorf("plan --diff --debug shows no redacted download:\n%s", diff.stderr)
	}
	if !strings.Contains(first.stdout, "{") || !strings.Contains(second.stdout, "{") {
		t.Errorf("apply --format json wrote no NDJSON events")
	}
	for _, r := range emu.Requests() {
		if r.Endpoint == desktest.Upload && r.Authorization != "" {
			t.Errorf("the S3 POST to %s carried an Authorization header", r.Path)
		}
	}

	texts := map[string]string{}
	for i, r := range runs {
		texts[fmt.Sprintf("stdout of run %d (desksync %s)", i, strings.Join(r.args, " "))] = r.stdout
		texts[fmt.Sprintf("stderr of run %d (desksync %s)", i, strings.Join(r.args, " "))] = r.stderr
	}
	files := everyFile(t, dir)
	for _, want := range []string{"desksync.state.json", "desksync.state.json.backup", "saved.plan"} {
		if _, ok := files[filepath.Join(dir, want)]; !ok {
			t.Errorf("%s was not written; the search would miss it", want)
		}
	}
	for p, data := range files {
		texts["file "+p] = string(data)
	}
	secrets["API key"] = key
	assertNoSecrets(t, texts, secrets)
}

// hostileSite is a loopback Desk that behaves until evil is set, then lets its case
// answer whatever it wants to (falling through to the emulator when it declines).
type hostileSite struct {
	emu  *desktest.Server
	evil atomic.Bool
	act  func(w http.ResponseWriter, r *http.Request, emu http.Handler) bool
	// stop is closed when the test is done with the server, releasing handlers that
	// hold a request forever (the server cannot always see the client hang up).
	stop chan struct{}
}

func (s *hostileSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.evil.Load() && s.act(w, r.WithContext(&stopContext{Context: r.Context(), stop: s.stop}), s.emu) {
		return
	}
	s.emu.ServeHTTP(w, r)
}

// isRef and isS3 pick the first and second step of an upload.
func isRef(r *http.Request) bool { return r.URL.Path == "/desk/api/v2/files/ref.json" }
func isS3(r *http.Request) bool {
	return r.Method == http.MethodPost && !strings.HasPrefix(r.URL.Path, "/desk/")
}

// endless writes status and then body forever, until the client goes away.
func endless(w http.ResponseWriter, r *http.Request, status int, chunk string) {
	w.WriteHeader(status)
	b := []byte(strings.Repeat(chunk, 4096))
	for r.Context().Err() == nil {
		if _, err := w.Write(b); err != nil {
			return
		}
	}
}

// block answers nothing until the client gives up or the test ends.
func block(r *http.Request) { <-r.Context().Done() }

// stopContext is a request's context that is also done when stop is closed.
type stopContext struct {
	context.Context
	stop chan struct{}
	once sync.Once
	done chan struct{}
}

func (c *stopContext) Done() <-chan struct{} {
	c.once.Do(func() {
		c.done = make(chan struct{})
		go func() {
			select {
			case <-c.Context.Done():
			case <-c.stop:
			}
			close(c.done)
		}()
	})
	return c.done
}

func (c *stopContext) Err() error {
	select {
	case <-c.Done():
		if err := c.Context.Err(); err != nil {
			return err
		}
		return context.Canceled
	default:
		return nil
	}
}

// rewriteRef passes the ref request to the emulator and lets edit change its answer.
func rewriteRef(w http.ResponseWriter, r *http.Request, emu http.Handler, edit func(ref map[string]any)) {
	rec := httptest.NewRecorder()
	emu.ServeHTTP(rec, r)
	var ref map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &ref); err != nil {
		panic(err)
	}
	edit(ref)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.Code)
	json.NewEncoder(w).Encode(ref)
}

// TestHostileServer drives `desksync apply` against a malicious Desk (and S3): every
// case must end in exit 1 with a clear error naming the file, within the short
// --timeout given, with no crash, no API key in any output or file, and the state as
// it was (only a pending record of a ref that Desk did hand out may appear).
func TestHostileServer(t *testing.T) {
	var otherCalls, otherAuth atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherCalls.Add(1)
		if r.Header.Get("Authorization") != "" {
			otherAuth.Add(1)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer other.Close()
	otherHost := strings.TrimPrefix(other.URL, "http://")

	const timeout = "500ms"
	tests := []struct {
		name string
		act  func(w http.ResponseWriter, r *http.Request, emu http.Handler) bool
		// want is the failure line after "desksync: error:   "; {site} is the site URL,
		// {host} its host.
		want string
		// whole says want is the error's one line, after "desksync: error: ".
		whole bool
		// pending says the ref succeeded, so state may gain a pending record.
		pending bool
		// noS3 says the file must not have been sent to S3 at all.
		noS3 bool
	}{
		{
			name: "endless ref body",
			act: func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if !isRef(r) {
					return false
				}
				endless(w, r, http.StatusCreated, `{"url":`)
				return true
			},
			want: `new.txt: create ref: unusable answer from {site}/desk/api/v2/files/ref.json: the body is larger than 1048576 bytes`,
		},
		{
			name: "gigantic JSON",
			act: func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if !isRef(r) {
					return false
				}
				w.WriteHeader(http.StatusCreated)
				fmt.Fprintf(w, `{"url":"https://b.example.com/","params":{},"file":{"id":1,"filename":"%s"}}`, strings.Repeat("x", 2<<20))
				return true
			},
			want: `new.txt: create ref: unusable answer from {site}/desk/api/v2/files/ref.json: the body is larger than 1048576 bytes`,
		},
		{
			name: "endless error body",
			act: func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if !isRef(r) {
					return false
				}
				endless(w, r, http.StatusBadRequest, "no ")
				return true
			},
			want: `new.txt: create ref: 400 Bad Request: ` + strings.TrimSpace(strings.Repeat("no ", 133)) + " n…",
		},
		{
			name: "invalid UTF-8 and a forged log line in the message",
			act: func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if !isRef(r) {
					return false
				}
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, "{\"message\":\"caf\xe9 \xff\xfe is bad\\r\\ndesksync: error: forged\"}")
				return true
			},
			want: "new.txt: create ref: 400 Bad Request: caf\uFFFD \uFFFD\uFFFD is bad desksync: error: forged",
		},
		{
			name: "HTML where JSON belongs",
			act: func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if !isRef(r) {
					return false
				}
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, "<html><body>Welcome to the proxy</body></html>")
				return true
			},
			want: `new.txt: create ref: unusable answer from {site}/desk/api/v2/files/ref.json: decoding the ref: invalid character '<' looking for beginning of value`,
		},
		{
			name: "JSON labelled as XML with a ref that is not one",
			act: func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if !isRef(r) {
					return false
				}
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, `{"url":["https://b.example.com/"],"params":{},"file":{"id":1}}`)
				return true
			},
			want: `new.txt: create ref: unusable answer from {site}/desk/api/v2/files/ref.json: ref "url": json: cannot unmarshal array into Go value of type string; desksync deleted the temp file 1 Desk created`,
		},
		{
			name: "redirect to another host",
			act: func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if !isRef(r) {
					return false
				}
				http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
				return true
			},
			want: `new.txt: create ref: Post "` + other.URL + `/desk/api/v2/files/ref.json": refusing to follow a redirect from {host} to another host (` + otherHost + `) with the API key`,
		},
		{
			name: "upload URL on another host over plain http",
			act: func(w http.ResponseWriter, r *http.Request, emu http.Handler) bool {
				if !isRef(r) {
					return false
				}
				rewriteRef(w, r, emu, func(ref map[string]any) { ref["url"] = "http://uploads.example.com/bucket?X-Amz-Signature=abc" })
				return true
			},
			want: `new.txt: create ref: unusable answer from {site}/desk/api/v2/files/ref.json: ref "url" "http://uploads.example.com/bucket?X-Amz-Signature=REDACTED" uses plain http on a non-loopback host (uploads.example.com); desksync deleted the temp file 2 Desk created`,
		},
		{
			name: "params inject a form part with CR/LF",
			act: func(w http.ResponseWriter, r *http.Request, emu http.Handler) bool {
				if !isRef(r) {
					return false
				}
				rewriteRef(w, r, emu, func(ref map[string]any) {
					ref["params"].(map[string]any)["x-amz-meta-note"] = "v\r\n--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nother/key"
				})
				return true
			},
			want: `new.txt: create ref: unusable answer from {site}/desk/api/v2/files/ref.json: ref "params" "x-amz-meta-note": the value contains control characters; desksync deleted the temp file 2 Desk created`,
		},
		{
			name: "param name injects a header",
			act: func(w http.ResponseWriter, r *http.Request, emu http.Handler) bool {
				if !isRef(r) {
					return false
				}
				rewriteRef(w, r, emu, func(ref map[string]any) {
					ref["params"].(map[string]any)["acl\r\nAuthorization: Bearer x"] = "public-read"
				})
				return true
			},
			want: `new.txt: create ref: unusable answer from {site}/desk/api/v2/files/ref.json: ref "params" "acl Authorization: Bearer x": the name contains control characters; desksync deleted the temp file 2 Desk created`,
		},
		{
			name: "a param takes the file's place",
			act: func(w http.ResponseWriter, r *http.Request, emu http.Handler) bool {
				if !isRef(r) {
					return false
				}
				rewriteRef(w, r, emu, func(ref map[string]any) { ref["params"].(map[string]any)["file"] = "not the file" })
				return true
			},
			want: `new.txt: create ref: unusable answer from {site}/desk/api/v2/files/ref.json: ref "params": a param is named "file", which is reserved for the upload itself; desksync deleted the temp file 2 Desk created`,
		},
		{
			name: "Desk never answers",
			act: func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if !isRef(r) {
					return false
				}
				block(r)
				return true
			},
			want: `new.txt: create ref: no complete answer within ` + timeout,
		},
		{
			name: "S3 never answers",
			act: func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if !isS3(r) {
					return false
				}
				block(r)
				return true
			},
			want:    `new.txt: upload to S3: the upload stalled: no bytes moved for ` + timeout,
			pending: true,
		},
		{
			name: "S3 answers endlessly",
			act: func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if !isS3(r) {
					return false
				}
				io.Copy(io.Discard, r.Body)
				endless(w, r, http.StatusCreated, "<PostResponse>")
				return true
			},
			want:    `new.txt: upload to S3: unusable answer from {site}/s3/desktest-bucket: the answer is larger than 65536 bytes`,
			pending: true,
		},
		{
			name: "the type allows less than the file's size",
			act: func(w http.ResponseWriter, r *http.Request, emu http.Handler) bool {
				if !isRef(r) {
					return false
				}
				rewriteRef(w, r, emu, func(ref map[string]any) {
					ref["file"].(map[string]any)["type"] = map[string]any{"Name": "attachment", "MaxSize": 3}
				})
				return true
			},
			want:    `new.txt: upload to S3: the file is 4 bytes, more than the 3 bytes Desk allows for type "attachment"`,
			pending: true,
			noS3:    true,
		},
		{
			name: "the key echoed in a 401",
			act: func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if !isRef(r) {
					return false
				}
				w.Header().Set("WWW-Authenticate", r.Header.Get("Authorization"))
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprintf(w, `<Error><Code>%s</Code><Message>key %s rejected</Message></Error>`, r.Header.Get("Authorization"), r.Header.Get("Authorization"))
				return true
			},
			want:  `Desk refused the API key (401 Unauthorized: Bearer [REDACTED]: key Bearer [REDACTED] rejected): apply stopped; 1 of 1 change not started`,
			whole: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := randomKey(t)
			site := &hostileSite{emu: desktest.New(desktest.Options{APIKey: key}), act: tt.act, stop: make(chan struct{})}
			srv := httptest.NewServer(site)
			defer srv.Close()
			defer close(site.stop) // before Close, which waits for the handlers
			dir := t.TempDir()
			env := []string{"DESK_URL=" + srv.URL, "DESK_API_KEY=" + key}

			// A good first run leaves state tracking keep.txt.
			writeFiles(t, dir, map[string]string{
				"desksync.yaml": "version: 1\nattachments:\n  - path: keep.txt\n",
				"keep.txt":      "keep\n",
			})
			if r := runCLI(t, dir, env, "apply", "--auto-approve"); r.code != 0 {
				t.Fatalf("setup apply: exit %d\n%s", r.code, r.stderr)
			}
			statePath := filepath.Join(dir, "desksync.state.json")
			before, err := os.ReadFile(statePath)
			if err != nil {
				t.Fatal(err)
			}

			// Then the server turns hostile for the next upload.
			writeFiles(t, dir, map[string]string{
				"desksync.yaml": "version: 1\nattachments:\n  - path: keep.txt\n  - path: new.txt\n",
				"new.txt":       "new\n",
			})
			uploads := func() (n int) {
				for _, req := range site.emu.Requests() {
					if req.Endpoint == desktest.Upload {
						n++
					}
				}
				return n
			}
			uploadsBefore := uploads()
			site.evil.Store(true)
			r := runCLI(t, dir, env, "apply", "--auto-approve", "--retries", "0", "--timeout", timeout, "--debug", "--format", "json")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstderr:\n%s", r.code, r.stderr)
			}
			if r.took > 15*time.Second {
				t.Errorf("took %v with --timeout %s --retries 0", r.took, timeout)
			}
			prefix := "desksync: error:   "
			if tt.whole {
				prefix = "desksync: error: "
			}
			want := prefix + strings.NewReplacer("{site}", srv.URL, "{host}", strings.TrimPrefix(srv.URL, "http://")).Replace(tt.want) + "\n"
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks\n%s\ngot:\n%s", want, r.stderr)
			}
			if !utf8.ValidString(r.stderr) || !utf8.ValidString(r.stdout) {
				t.Errorf("output is not valid UTF-8:\n%q", r.stderr)
			}
			for _, line := range strings.Split(r.stderr, "\n") {
				if strings.HasPrefix(line, "desksync: error: forged") {
					t.Errorf("the server forged a line of output: %q", line)
				}
			}

			if tt.noS3 && uploads() != uploadsBefore {
				t.Errorf("the file was sent to S3 (%d uploads, %d before)", uploads(), uploadsBefore)
			}
			texts := map[string]string{"stdout": r.stdout, "stderr": r.stderr}
			for p, data := range everyFile(t, dir) {
				texts["file "+p] = string(data)
			}
			assertNoSecrets(t, texts, map[string]string{"API key": key})

			after, err := os.ReadFile(statePath)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(before, after) {
				return
			}
			if !tt.pending {
				t.Fatalf("state changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			b, err1 := state.Decode(before)
			a, err2 := state.Decode(after)
			if err1 != nil || err2 != nil {
				t.Fatalf("state does not decode: %v, %v", err1, err2)
			}
			if a.Lineage != b.Lineage || !reflect.DeepEqual(a.Attachments, b.Attachments) || len(a.Deposed) != 0 {
				t.Errorf("state changed beyond a pending record:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			for addr := range a.Pending {
				if addr != "new.txt" {
					t.Errorf("pending record for %q", addr)
				}
			}
		})
	}
	if otherCalls.Load() != 0 {
		t.Errorf("the other host saw %d requests (%d with Authorization)", otherCalls.Load(), otherAuth.Load())
	}
}
