package refresh_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/testdesk"
	"github.com/desksync/desksync/state"
)

const testKey = "refresh-test-key-0123"

// env is one test's world: the emulator behind a real HTTP server and the real Desk
// client talking to it.
type env struct {
	t      *testing.T
	srv    *desktest.Server
	client *desk.Client
	// inFlight and maxInFlight count concurrent GETs of file records.
	mu                    sync.Mutex
	inFlight, maxInFlight int
	// holdGETs, while set, holds every GET of a file record until holdGETs of them run
	// at once (or 10s pass), however slow the machine; full is closed then.
	holdGETs int
	full     chan struct{}
	// getDelay slows every GET of a file record, giving one too many the time to show.
	getDelay time.Duration
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t}
	d := testdesk.Start(t, testdesk.Options{
		Emulator: desktest.Options{APIKey: testKey},
		Retries:  1,
		Handler: func(emu http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				counted := r.Method == http.MethodGet && bytes.HasPrefix([]byte(r.URL.Path), []byte("/desk/api/v2/files/"))
				if counted {
					e.mu.Lock()
					e.inFlight++
					e.maxInFlight = max(e.maxInFlight, e.inFlight)
					delay, full := e.getDelay, e.full
					if e.holdGETs > 0 && e.inFlight >= e.holdGETs {
						close(e.full)
						e.holdGETs = 0
					}
					e.mu.Unlock()
					if full != nil {
						select {
						case <-full:
						case <-r.Context().Done():
						case <-time.After(10 * time.Second):
						}
					}
					time.Sleep(delay)
					defer func() { e.mu.Lock(); e.inFlight--; e.mu.Unlock() }()
				}
				emu.ServeHTTP(w, r)
			})
		},
	})
	e.srv, e.client = d.Emulator, d.Client
	return e
}

// upload puts content on Desk through the real three-step protocol and returns the
// active file.
func (e *env) upload(filename, mimeType, content string) *desk.File {
	e.t.Helper()
	ctx := context.Background()
	ref, err := e.client.CreateRef(ctx, desk.RefRequest{Type: "attachment", Filename: filename, MimeType: mimeType, Disposition: "attachment"})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.client.Upload(ctx, ref, bytes.NewReader([]byte(content)), int64(len(content)), filename, nil); err != nil {
		e.t.Fatal(err)
	}
	f, err := e.client.UpdateFile(ctx, ref.File.ID, desk.FileUpdate{State: ptr("active")})
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// requests counts the emulator's logged requests to ep.
func (e *env) requests(ep desktest.Endpoint) int {
	n := 0
	for _, r := range e.srv.Requests() {
		if r.Endpoint == ep {
			n++
		}
	}
	return n
}

func ptr[T any](v T) *T { return &v }

var uploaded = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// record is the state record desksync keeps for an uploaded file f with blake3 b3.
func record(f *desk.File, b3 string) *state.Attachment {
	return &state.Attachment{
		ID: f.ID, Filename: f.Filename, MimeType: f.MimeType, Disposition: f.Disposition, Type: "attachment",
		Size: f.Size, Blake3: b3, State: "active", UploadedAt: uploaded,
	}
}

func newState(atts map[string]*state.Attachment) *state.State {
	st := state.New("https://example.teamwork.com")
	st.Attachments = atts
	return st
}

// writeFiles writes files under a fresh root and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const (
	hashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)
