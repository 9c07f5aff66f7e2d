// Package testdesk is the test fixture the packages that talk to Desk share: the
// strict emulator (desk/desktest) behind a real HTTP server on loopback, and the real
// client talking to it, so that tests go through the same requests a user's run makes.
// Only tests import it.
package testdesk

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/desktime"
)

// Options shape the fixture; the zero value is an emulator with defaults and a client
// that does not retry.
type Options struct {
	// Emulator configures the emulator; its APIKey must be set.
	Emulator desktest.Options
	// Handler, if set, wraps the emulator on the server's side (to count or slow
	// requests as they arrive).
	Handler func(http.Handler) http.Handler
	// Transport, if set, wraps the client's transport (to act at an exact moment of
	// the protocol).
	Transport func(http.RoundTripper) http.RoundTripper
	// Retries is the client's desk.Config.Retries.
	Retries int
}

// Desk is one test's Desk: the emulator, the server it answers on, and a client.
type Desk struct {
	Emulator *desktest.Server
	Server   *httptest.Server
	// Key is the API key the emulator accepts.
	Key    string
	Client *desk.Client
}

// Start starts the emulator and its server, closed when the test ends, and makes a
// client whose retries happen without waiting, so that a failure "after retries" is
// fast.
func Start(t testing.TB, o Options) *Desk {
	t.Helper()
	if o.Emulator.APIKey == "" {
		t.Fatal("testdesk: Options.Emulator.APIKey is empty")
	}
	emu := desktest.New(o.Emulator)
	var h http.Handler = emu
	if o.Handler != nil {
		h = o.Handler(emu)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	cfg := desk.Config{URL: ts.URL, APIKey: o.Emulator.APIKey, Retries: o.Retries}
	if o.Transport != nil {
		cfg.HTTPClient = &http.Client{Transport: o.Transport(http.DefaultTransport)}
	}
	client, err := desk.NewTuned(cfg, desktime.Knobs{Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return &Desk{Emulator: emu, Server: ts, Key: o.Emulator.APIKey, Client: client}
}

// Env is what the CLI reads to reach this Desk: DESK_URL and DESK_API_KEY.
func (d *Desk) Env() []string {
	return []string{"DESK_URL=" + d.Server.URL, "DESK_API_KEY=" + d.Key}
}
