package desk

import (
	"context"
	"errors"
	neturl "net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/desksync/desksync/desk/desktest"
)

// serveEmulator runs the Desk emulator on loopback for one test.
func serveEmulator(t *testing.T, opts desktest.Options) (*desktest.Server, string) {
	t.Helper()
	opts.APIKey = testKey
	emu := desktest.New(opts)
	url, stop, err := desktest.Serve(emu)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return emu, url
}

// TestEmulatorUpload runs the three-step upload, a read-back and a delete against
// the emulator, which checks the SigV4 POST policy, field order and content.
func TestEmulatorUpload(t *testing.T) {
	emu, url := serveEmulator(t, desktest.Options{})
	c, dbg := newTestClient(t, url)
	ctx := context.Background()
	content := strings.Repeat("<svg/>\n", 5000)

	ref, err := c.CreateRef(ctx, RefRequest{Type: "attachment", Filename: "logo.svg", MimeType: "image/svg+xml", Disposition: "attachment"})
	if err != nil {
		t.Fatal(err)
	}
	if ref.File.State != "temp" || ref.File.ID <= 0 {
		t.Fatalf("ref file = %+v", ref.File)
	}
	var last int64
	if err := c.Upload(ctx, ref, strings.NewReader(content), int64(len(content)), "logo.svg", func(n int64) { last = n }); err != nil {
		t.Fatal(err)
	}
	active := "active"
	f, err := c.UpdateFile(ctx, ref.File.ID, FileUpdate{State: &active})
	if err != nil {
		t.Fatal(err)
	}
	if f.State != "active" || f.Size != int64(len(content)) || f.Filename != "logo.svg" || last != int64(len(content)) {
		t.Errorf("activated file = %+v (progress %d)", f, last)
	}
	got, err := emu.Content(ref.File.ID)
	if err != nil || string(got) != content {
		t.Errorf("emulator holds %d bytes (%v), want the %d sent", len(got), err, len(content))
	}

	f, err = c.GetFile(ctx, ref.File.ID)
	if err != nil {
		t.Fatal(err)
	}
	body, err := c.Download(ctx, f.DownloadURL, 1<<20)
	if err != nil || string(body) != content {
		t.Errorf("download = %d bytes, %v", len(body), err)
	}
	// The download URL's token (the emulator's ?k=) is a credential too: it must not
	// reach an error or the debug log.
	dl, err := neturl.Parse(f.DownloadURL)
	if err != nil || dl.Query().Get("k") == "" {
		t.Fatalf("download URL %q has no k token (%v)", f.DownloadURL, err)
	}
	token := dl.Query().Get("k")
	_, err = c.Download(ctx, f.DownloadURL, 10)
	if err == nil || !strings.Contains(err.Error(), "?k=REDACTED") {
		t.Errorf("oversize download = %v, want an error naming the URL with k=REDACTED", err)
	} else {
		assertNoSecret(t, "download error", err.Error(), token)
	}
	assertNoSecret(t, "debug log", dbg.String(), token)

	if err := c.DeleteFile(ctx, ref.File.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteFile(ctx, ref.File.ID); !IsNotFound(err) {
		t.Errorf("second delete = %v, want not found", err)
	}
	assertNoSecret(t, "debug log", dbg.String(), ref.Params[len(ref.Params)-1].Value)
}

func TestEmulatorErrors(t *testing.T) {
	now := time.Now()
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	_, url := serveEmulator(t, desktest.Options{Clock: func() time.Time { return *clock.Load() }, PolicyTTL: time.Minute})
	c, _ := newTestClient(t, url)
	ctx := context.Background()

	_, err := c.CreateRef(ctx, RefRequest{Type: "attachment", Filename: "", MimeType: "image/png", Disposition: "attachment"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.HasPrefix(err.Error(), `desk: create ref for "": 400 Bad Request: filename: `) {
		t.Errorf("empty filename: %v", err)
	}

	ref, err := c.CreateRef(ctx, RefRequest{Type: "attachment", Filename: "a.png", MimeType: "image/png", Disposition: "attachment"})
	if err != nil {
		t.Fatal(err)
	}
	later := now.Add(2 * time.Minute)
	clock.Store(&later)
	err = c.Upload(ctx, ref, strings.NewReader("png"), 3, "a.png", nil)
	if !IsPolicyExpired(err) {
		t.Errorf("upload after the policy's expiry = %v, want a policy-expired error", err)
	}
	if want := `desk: upload "a.png": 403 Forbidden: AccessDenied: Invalid according to Policy: Policy expired.`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}

	bad, _ := newTestClient(t, url, func(c *testConfig) { c.APIKey = "wrong" })
	_, err = bad.GetFile(ctx, 1)
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Hint() != "check DESK_API_KEY (or --api-key): Desk did not accept it" {
		t.Errorf("wrong key: %v", err)
	}
}

// TestPacerLongWindow is the acceptance figure for the pacer (docs/benchmarks.md): Desk calls from
// 4 workers against the emulator's fixed windows, X-Rate-Limit-Reset in whole seconds
// (or as an epoch): 120 calls under 20 per 10 s within 1.10x the minimum with at most
// 3 429s, and under Desk's own 120 per minute at most about a second lost per window.
// Four minutes in all, so it runs only with DESKSYNC_LONG_TESTS=1.
func TestPacerLongWindow(t *testing.T) {
	if os.Getenv("DESKSYNC_LONG_TESTS") == "" {
		t.Skip("long test: set DESKSYNC_LONG_TESTS=1")
	}
	tests := []struct {
		name     string
		n, limit int
		window   time.Duration
		epoch    bool
		lossPer  time.Duration // allowed per window after the first
	}{
		{"20 per 10s, seconds", 120, 20, 10 * time.Second, false, 800 * time.Millisecond},
		{"20 per 10s, epoch", 120, 20, 10 * time.Second, true, 800 * time.Millisecond},
		{"Desk's 120 per minute, seconds", 240, 120, time.Minute, false, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, url := serveEmulator(t, desktest.Options{RateLimit: tt.limit, RateWindow: tt.window, ResetAsEpoch: tt.epoch})
			c, _ := newTestClient(t, url, func(c *testConfig) { c.Debug = nil })
			var next atomic.Int64
			var wg sync.WaitGroup
			start := startInWindow(tt.window)
			for range 4 {
				wg.Go(func() {
					for next.Add(1) <= int64(tt.n) {
						if err := c.DeleteFile(context.Background(), 1); !IsNotFound(err) {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			// The emulator's windows are aligned to multiples of the window: the first
			// is what is left of the one the run started in, the last needs no time.
			windows := (tt.n + tt.limit - 1) / tt.limit
			minimum := start.Truncate(tt.window).Add(tt.window).Sub(start) + time.Duration(windows-2)*tt.window
			hit := 0
			for _, r := range emu.Requests() {
				if r.Status == 429 {
					hit++
				}
			}
			ratio := elapsed.Seconds() / minimum.Seconds()
			t.Logf("%d requests, %d per %v, 4 workers: %v (minimum %v, %.3fx, %v lost), %d 429s",
				tt.n, tt.limit, tt.window, elapsed.Round(time.Millisecond), minimum.Round(time.Millisecond), ratio,
				(elapsed - minimum).Round(time.Millisecond), hit)
			if ratio > 1.10 || hit > 3 || elapsed-minimum > time.Duration(windows-1)*tt.lossPer {
				t.Errorf("took %.3fx the minimum with %d 429s; want at most 1.10x, 3 and %v lost per window", ratio, hit, tt.lossPer)
			}
		})
	}
}
