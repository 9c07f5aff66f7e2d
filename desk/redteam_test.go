package desk

// Tests for SECURITY.md's defences of the client against an untrusted server: a server that echoes the
// key, steers requests into private networks, leaves temp files behind a refused ref,
// or asks for endless waits; and a wrong key that must stop at once.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/syncbuf"
)

// TestKeyEchoedInRecordsIsScrubbed: a server that echoes the Authorization header into
// every string of a file record must not get the key into what the client returns
// (which refresh and import write to state and plan prints).
func TestKeyEchoedInRecordsIsScrubbed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get("Authorization")
		fmt.Fprintf(w, `{"file":{"id":7,"filename":"%[1]s.png","mimeType":"image/%[1]s","disposition":"%[1]s","type":"%[1]s","state":"%[1]s","downloadURL":"https://x/%[1]s"}}`, a)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL)
	ctx := context.Background()
	active := "active"
	for name, call := range map[string]func() (*File, error){
		"get":    func() (*File, error) { return c.GetFile(ctx, 7) },
		"update": func() (*File, error) { return c.UpdateFile(ctx, 7, FileUpdate{State: &active}) },
	} {
		f, err := call()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		assertNoSecret(t, name+" record", fmt.Sprintf("%+v", *f))
		if f.Filename != "Bearer [REDACTED].png" {
			t.Errorf("%s: filename = %q, want the key replaced", name, f.Filename)
		}
	}
}

// refServer answers ref requests with body (the temp file id is 77) and counts the
// DELETEs of that file; deleteStatus is what a DELETE gets.
type refServer struct {
	body         string
	deleteStatus int
	deletes      atomic.Int64
}

func (s *refServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/desk/api/v2/files/ref.json":
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, s.body)
	case r.Method == http.MethodDelete && r.URL.Path == "/desk/api/v2/files/77.json":
		s.deletes.Add(1)
		w.WriteHeader(s.deleteStatus)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// TestRefusedRefDeletesItsTempFile: a ref desksync refuses still created a temp file
// on Desk; the client deletes it and says so, or names it when the delete fails.
func TestRefusedRefDeletesItsTempFile(t *testing.T) {
	file := `"file":{"id":77,"fileName":"a.png","state":"temp"}`
	tests := []struct {
		name         string
		body         string
		deleteStatus int
		want         string // %s is the server URL
		orphan       int64
	}{
		{"plain http upload URL", `{"url":"http://uploads.example.com/","params":{},` + file + `}`, 204,
			`desk: create ref for "a.png": unusable answer from %s/desk/api/v2/files/ref.json: ref "url" "http://uploads.example.com/" uses plain http on a non-loopback host (uploads.example.com); desksync deleted the temp file 77 Desk created`, 0},
		{"bad params", `{"url":"https://b.example.com/","params":{"file":"x"},` + file + `}`, 204,
			`desk: create ref for "a.png": unusable answer from %s/desk/api/v2/files/ref.json: ref "params": a param is named "file", which is reserved for the upload itself; desksync deleted the temp file 77 Desk created`, 0},
		{"the key in the params", `{"url":"https://b.example.com/","params":{"x":"` + testKey + `"},` + file + `}`, 204,
			`desk: create ref for "a.png": unusable answer from %s/desk/api/v2/files/ref.json: the ref carries the API key, which must never reach S3; desksync deleted the temp file 77 Desk created`, 0},
		{"the delete fails too", `{"url":"http://uploads.example.com/","params":{},` + file + `}`, 400,
			`desk: create ref for "a.png": unusable answer from %s/desk/api/v2/files/ref.json: ref "url" "http://uploads.example.com/" uses plain http on a non-loopback host (uploads.example.com); deleting the temp file 77 Desk created failed too: 400 Bad Request`, 77},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &refServer{body: tt.body, deleteStatus: tt.deleteStatus}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c, _ := newTestClient(t, srv.URL)
			ref, err := c.CreateRef(context.Background(), RefRequest{Filename: "a.png"})
			if ref != nil || err == nil || err.Error() != fmt.Sprintf(tt.want, srv.URL) {
				t.Fatalf("CreateRef = %+v, %v\nwant error\n%s", ref, err, fmt.Sprintf(tt.want, srv.URL))
			}
			if s.deletes.Load() != 1 {
				t.Errorf("%d DELETEs of the temp file, want 1", s.deletes.Load())
			}
			var re *ResponseError
			if !errors.As(err, &re) || re.Orphan != tt.orphan {
				t.Fatalf("error %T %+v, want a *ResponseError with Orphan %d", err, re, tt.orphan)
			}
			if tt.orphan != 0 && !strings.Contains(re.Hint(), "delete Desk file 77") {
				t.Errorf("hint %q does not name the file left behind", re.Hint())
			}
		})
	}
}

// TestRateLimitWaits: SECURITY.md bounds what a 429 can make desksync do: a wait longer
// than 120 s fails the call at once, at most 10 retries follow 429s, and every wait
// longer than 5 s is announced.
func TestRateLimitWaits(t *testing.T) {
	limited := func(retryAfter string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", retryAfter)
			status(429, `{"errors":[{"detail":"slow down"}]}`)(w, r)
		}
	}
	tests := []struct {
		name      string
		steps     []func(http.ResponseWriter, *http.Request)
		wantErr   string
		calls     int64
		slept     time.Duration
		announced string
	}{
		{"a wait of 27 hours fails at once", []func(http.ResponseWriter, *http.Request){limited("99999")},
			"desk: get file 1: 429 Too Many Requests: slow down; Desk's rate limit asks to wait 27h46m39s after its 429, longer than the 2m0s desksync waits",
			1, 0, ""},
		{"Retry-After 0.05 is retried 10 times, not 50", []func(http.ResponseWriter, *http.Request){limited("0.05")},
			"desk: get file 1: 429 Too Many Requests: slow down (gave up after 11 attempts)", 11, 10 * minRateLimitWait, ""},
		{"a long wait is announced", []func(http.ResponseWriter, *http.Request){limited("42"), ok},
			"", 2, 42 * time.Second, "desksync: Desk's rate limit: waiting after a 429 Too Many Requests: waiting 42s\n"},
		{"a long backoff is announced", []func(http.ResponseWriter, *http.Request){status(503, ""), status(503, ""), status(503, ""), status(503, ""), ok},
			"", 5, 15 * time.Second, "desksync: get file 1 failed (503 Service Unavailable); retrying: waiting 8s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scriptServer{steps: tt.steps}
			srv := httptest.NewServer(s)
			defer srv.Close()
			ft := newFakeTime()
			notices := &syncbuf.Buffer{}
			c, _ := newTestClient(t, srv.URL, ft.use, func(c *testConfig) {
				c.Notices = notices
				c.BackoffBase, c.BackoffMax = time.Second, time.Minute
				c.Jitter = func(max time.Duration) time.Duration { return max }
			})
			_, err := c.GetFile(context.Background(), 1)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			var slept time.Duration
			for _, d := range ft.Slept() {
				slept += d
			}
			if s.calls.Load() != tt.calls || slept != tt.slept {
				t.Errorf("%d calls, slept %v; want %d and %v", s.calls.Load(), slept, tt.calls, tt.slept)
			}
			if notices.String() != tt.announced {
				t.Errorf("notices = %q, want %q", notices.String(), tt.announced)
			}
			var h interface{ Hint() string }
			if err != nil && (!errors.As(err, &h) || h.Hint() == "") {
				t.Errorf("no hint for %v", err)
			}
		})
	}
}

// TestSpentWindow: when the budget is spent, the wait for the reset is announced
// (once, however many calls wait); a reset further than 120 s fails the call instead.
func TestSpentWindow(t *testing.T) {
	for _, tt := range []struct {
		reset   string
		wantErr string
		notices string
	}{
		{"30", "", "desksync: Desk's rate limit: waiting until its rate-limit window resets: waiting 30s\n"},
		{"600", "desk: get file 1: Desk's rate limit asks to wait 10m0s until its rate-limit window resets, longer than the 2m0s desksync waits", ""},
	} {
		t.Run(tt.reset, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				remaining := "10"
				if calls.Add(1) == 1 {
					remaining = "0"
				}
				w.Header().Set("X-Rate-Limit-Remaining", remaining)
				w.Header().Set("X-Rate-Limit-Reset", tt.reset)
				ok(w, r)
			}))
			defer srv.Close()
			ft := newFakeTime()
			notices := &syncbuf.Buffer{}
			c, _ := newTestClient(t, srv.URL, ft.use, func(c *testConfig) { c.Notices = notices })
			if _, err := c.GetFile(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			_, err := c.GetFile(context.Background(), 1)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
			if got := notices.String(); got != tt.notices {
				t.Errorf("notices = %q, want %q", got, tt.notices)
			}
		})
	}
}

// TestWrongKeyStopsTheClient: after Desk's first 401 no call is sent any more; each
// fails at once with an AuthError (SECURITY.md).
func TestWrongKeyStopsTheClient(t *testing.T) {
	emu, u := serveEmulator(t, desktest.Options{})
	c, _ := newTestClient(t, u, func(c *testConfig) { c.APIKey = "dk_wrong_key_0123456789" })
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := c.CreateRef(ctx, RefRequest{Type: "attachment", Filename: fmt.Sprintf("f%d.png", i), MimeType: "image/png", Disposition: "attachment"})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		var ae *AuthError
		if !errors.As(err, &ae) || !IsAuth(err) || ae.Hint() != "check DESK_API_KEY (or --api-key): Desk did not accept it" {
			t.Fatalf("error %v, want an *AuthError with the key hint", err)
		}
	}
	// The pacer lets one call out until Desk has answered once; that answer stops the rest.
	if n := len(emu.Requests()); n != 1 {
		t.Errorf("Desk saw %d requests, want 1", n)
	}
	err := c.Upload(ctx, &Ref{URL: u + "/s3/b"}, strings.NewReader("x"), 1, "a.png", nil)
	if want := `desk: upload "a.png": not sent: Desk refused the API key (401 Unauthorized: missing or wrong API key; send Authorization: Bearer <key>)`; err == nil || err.Error() != want {
		t.Errorf("upload after the 401 = %v, want %q", err, want)
	}
	if n := len(emu.Requests()); n != 1 {
		t.Errorf("Desk saw %d requests, want 1", n)
	}
}

// TestS3RefusalDoesNotStopTheClient: a 403 from S3 (a policy, not the key) leaves the
// Desk calls going.
func TestS3RefusalDoesNotStopTheClient(t *testing.T) {
	emu, u := serveEmulator(t, desktest.Options{})
	c, _ := newTestClient(t, u)
	ctx := context.Background()
	ref, err := c.CreateRef(ctx, RefRequest{Type: "attachment", Filename: "a.png", MimeType: "image/png", Disposition: "attachment"})
	if err != nil {
		t.Fatal(err)
	}
	emu.Inject(desktest.Upload, desktest.Fault{Status: 403})
	if err := c.Upload(ctx, ref, strings.NewReader("png"), 3, "a.png", nil); err == nil || IsAuth(err) {
		t.Fatalf("upload = %v, want a plain S3 403", err)
	}
	if err := c.DeleteFile(ctx, ref.File.ID); err != nil {
		t.Errorf("delete after an S3 403 = %v", err)
	}
}

// mapResolver resolves from a fixed table.
type mapResolver map[string][]string

func (m mapResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	var out []net.IPAddr
	for _, a := range m[host] {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	if out == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

// offsiteEnv is a site that is not on loopback, as far as the client can tell: it is
// https://example.com, and every connection, whatever address it was for, reaches
// one TLS test server (whose certificate covers example.com and *.example.com).
type offsiteEnv struct {
	srv    *httptest.Server
	dialed atomic.Int64
	client *Client
}

func newOffsiteEnv(t *testing.T, transport func(*http.Transport) http.RoundTripper) *offsiteEnv {
	t.Helper()
	e := &offsiteEnv{}
	e.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
			return
		}
		io.WriteString(w, "content")
	}))
	t.Cleanup(e.srv.Close)
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasPrefix(addr, "127.0.0.1:") { // a proxy the test set up
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		e.dialed.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, e.srv.Listener.Addr().String())
	}
	var rt http.RoundTripper = tr
	if transport != nil {
		rt = transport(tr)
	}
	resolver := mapResolver{
		"example.com": {"52.216.0.1"}, "s3.example.com": {"52.216.0.7"},
		"evil.example.com": {"127.0.0.2"}, "meta.example.com": {"169.254.169.254"},
		"lan.example.com": {"52.216.0.9", "10.1.2.3"}, "nat64.example.com": {"64:ff9b::a9fe:a9fe"},
	}
	e.client, _ = newTestClient(t, "https://example.com", func(c *testConfig) {
		c.HTTPClient = &http.Client{Transport: rt}
		c.Resolver = resolver
	})
	return e
}

// TestOffsiteURLsIntoPrivateNetworksAreRefused: an upload or download URL from Desk
// that leads to a loopback, link-local or private address is refused while the site
// is not on loopback: at dial time when connecting directly, before the request when
// a proxy or an unknown transport carries it.
func TestOffsiteURLsIntoPrivateNetworksAreRefused(t *testing.T) {
	refused := []struct {
		url, want string
	}{
		{"https://evil.example.com/f", "refusing to connect to evil.example.com: it resolves to 127.0.0.2, a loopback address"},
		{"https://127.0.0.2/f", "refusing to connect to 127.0.0.2, a loopback address"},
		{"https://[::ffff:127.0.0.2]/f", "refusing to connect to ::ffff:127.0.0.2, a loopback address"},
		{"https://meta.example.com/f", "refusing to connect to meta.example.com: it resolves to 169.254.169.254, a link-local address"},
		{"https://lan.example.com/f", "refusing to connect to lan.example.com: it resolves to 10.1.2.3, a private address"},
		{"https://[fd00::1]/f", "refusing to connect to fd00::1, a private address"},
		{"http://127.0.0.2/f", "refusing to connect to 127.0.0.2, a loopback address"},
		{"https://[64:ff9b::a00:1]:9443/f", "refusing to connect to 64:ff9b::a00:1, a private address: the NAT64 form of 10.0.0.1"},
		{"https://nat64.example.com/f", "refusing to connect to nat64.example.com: it resolves to 64:ff9b::a9fe:a9fe, a link-local address: the NAT64 form of 169.254.169.254"},
		{"https://[2002:a00:1::1]/f", "refusing to connect to 2002:a00:1::1, a private address: the 6to4 form of 10.0.0.1"},
		{"https://[::a00:1]/f", "refusing to connect to ::a00:1, a non-public address: the IPv4-compatible form of 10.0.0.1"},
		{"https://0x7f.1/f", "refusing to connect to 0x7f.1, an IPv4 address in a non-standard spelling"},
		{"https://localhost/f", "refusing to connect to localhost, a loopback name"},
	}
	proxyCalls := atomic.Int64{}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxyCalls.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer proxy.Close()
	proxyURL, _ := url.Parse(proxy.URL)
	transports := map[string]func(*http.Transport) http.RoundTripper{
		"direct":  nil,
		"proxied": func(tr *http.Transport) http.RoundTripper { tr.Proxy = http.ProxyURL(proxyURL); return tr },
		"wrapped": func(tr *http.Transport) http.RoundTripper { return roundTripFunc(tr.RoundTrip) },
	}
	for name, transport := range transports {
		t.Run(name, func(t *testing.T) {
			proxyCalls.Store(0)
			e := newOffsiteEnv(t, transport)
			ctx := context.Background()
			for _, tt := range refused {
				_, err := e.client.Download(ctx, tt.url, 100)
				uerr := e.client.Upload(ctx, &Ref{URL: tt.url, File: File{ID: 1}}, strings.NewReader("x"), 1, "a.png", nil)
				for _, err := range []error{err, uerr} {
					var ae *APIError
					if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &ae) || ae.Retryable() ||
						!strings.Contains(ae.Hint(), "private network") {
						t.Errorf("%s: error = %v, want a final error containing %q", tt.url, err, tt.want)
					}
				}
			}
			if e.dialed.Load() != 0 || proxyCalls.Load() != 0 {
				t.Errorf("%d connections and %d proxy requests for refused URLs", e.dialed.Load(), proxyCalls.Load())
			}
			if name == "proxied" {
				// A public host is reached through the proxy (which answers 502 here).
				if _, err := e.client.Download(ctx, "https://s3.example.com/f", 100); err == nil || proxyCalls.Load() == 0 || e.dialed.Load() != 0 {
					t.Errorf("download through the proxy = %v; %d proxy requests, %d direct connections", err, proxyCalls.Load(), e.dialed.Load())
				}
				return
			}
			if b, err := e.client.Download(ctx, "https://s3.example.com/f", 100); err != nil || string(b) != "content" {
				t.Errorf("download from a public host = %q, %v", b, err)
			}
			if err := e.client.Upload(ctx, &Ref{URL: "https://s3.example.com/b", File: File{ID: 1}}, strings.NewReader("x"), 1, "a.png", nil); err != nil {
				t.Errorf("upload to a public host = %v", err)
			}
			// The site itself is trusted: a download from it is not checked.
			if b, err := e.client.Download(ctx, "/desk/download/1", 100); err != nil || string(b) != "content" {
				t.Errorf("download from the site = %q, %v", b, err)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestUploadCertificateHintNamesTheUploadHost: when S3's certificate fails, the hint
// points at the upload host, not at DESK_URL.
func TestUploadCertificateHintNamesTheUploadHost(t *testing.T) {
	s3 := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) }))
	defer s3.Close()
	c, _ := newTestClient(t, "http://127.0.0.1:1", func(c *testConfig) {
		c.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	})
	err := c.Upload(context.Background(), &Ref{URL: s3.URL + "/bucket"}, strings.NewReader("x"), 1, "a.png", nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Retryable() {
		t.Fatalf("error = %v, want a final *APIError", err)
	}
	host := strings.TrimPrefix(s3.URL, "https://")
	want := "the TLS certificate of " + host + ", the host Desk sent this file to or from, did not verify; if a proxy inspects TLS, add its CA with SSL_CERT_FILE"
	if ae.Hint() != want {
		t.Errorf("hint = %q, want %q", ae.Hint(), want)
	}
}
