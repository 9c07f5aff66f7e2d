package desk

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestClassifyAddr holds the guard's one address rule to IANA's special-purpose
// registries, and every IPv6 form that carries an IPv4 address to the IPv4 rules.
func TestClassifyAddr(t *testing.T) {
	tests := []struct {
		addr, kind, via string
	}{
		// IPv4
		{"8.8.8.8", "", ""},
		{"52.216.8.1", "", ""},
		{"0.0.0.0", kindNonPublic, ""},
		{"0.1.2.3", kindNonPublic, ""},
		{"10.0.0.1", kindPrivate, ""},
		{"100.64.0.1", kindPrivate, ""},
		{"100.127.255.254", kindPrivate, ""},
		{"100.128.0.1", "", ""},
		{"127.0.0.1", kindLoopback, ""},
		{"127.255.0.9", kindLoopback, ""},
		{"169.254.169.254", kindLinkLocal, ""},
		{"172.16.0.1", kindPrivate, ""},
		{"172.31.255.255", kindPrivate, ""},
		{"172.32.0.1", "", ""},
		{"192.0.0.170", kindNonPublic, ""},
		{"192.0.2.1", kindNonPublic, ""},
		{"192.88.99.1", kindNonPublic, ""},
		{"192.168.1.1", kindPrivate, ""},
		{"198.18.0.1", kindPrivate, ""},
		{"198.19.255.255", kindPrivate, ""},
		{"198.51.100.1", kindNonPublic, ""},
		{"203.0.113.1", kindNonPublic, ""},
		{"224.0.0.1", kindNonPublic, ""},
		{"240.0.0.1", kindNonPublic, ""},
		{"255.255.255.255", kindNonPublic, ""},
		// IPv4-mapped: dialled as the IPv4 address it maps.
		{"::ffff:127.0.0.2", kindLoopback, ""},
		{"::ffff:10.0.0.1", kindPrivate, ""},
		{"::ffff:169.254.169.254", kindLinkLocal, ""},
		{"::ffff:8.8.8.8", "", ""},
		// NAT64 (well-known prefix): the embedded IPv4 address decides.
		{"64:ff9b::a00:1", kindPrivate, "NAT64"},
		{"64:ff9b::10.0.0.1", kindPrivate, "NAT64"},
		{"64:ff9b::a9fe:a9fe", kindLinkLocal, "NAT64"},
		{"64:ff9b::7f00:1", kindLoopback, "NAT64"},
		{"64:ff9b::c0a8:101", kindPrivate, "NAT64"},
		{"64:ff9b::808:808", "", ""},
		// Local-use NAT64: refused whatever it embeds.
		{"64:ff9b:1::808:808", kindPrivate, ""},
		{"64:ff9b:1:ffff::1", kindPrivate, ""},
		// 6to4: the IPv4 address in bits 16-47 decides.
		{"2002:a00:1::1", kindPrivate, "6to4"},
		{"2002:7f00:1::", kindLoopback, "6to4"},
		{"2002:a9fe:a9fe::1", kindLinkLocal, "6to4"},
		{"2002:808:808::1", "", ""},
		// Teredo: the server's address and the client's (inverted) both decide.
		{"2001:0:a00:1::808:808", kindPrivate, "Teredo"},
		{"2001:0:808:808::f5ff:fffe", kindPrivate, "Teredo"},  // client ^0xf5fffffe = 10.0.0.1
		{"2001:0:808:808::80ff:fffe", kindLoopback, "Teredo"}, // client 127.0.0.1
		{"2001:0:808:808::f7f7:f7f7", "", ""},                 // client 8.8.8.8
		// IPv4-compatible (deprecated): refused whatever it embeds.
		{"::a00:1", kindNonPublic, "IPv4-compatible"},
		{"::10.0.0.1", kindNonPublic, "IPv4-compatible"},
		{"::8.8.8.8", kindNonPublic, "IPv4-compatible"},
		{"::2", kindNonPublic, "IPv4-compatible"},
		// Other IPv6
		{"::", kindNonPublic, ""},
		{"::1", kindLoopback, ""},
		{"fd00::1", kindPrivate, ""},
		{"fc00::1", kindPrivate, ""},
		{"fe80::1", kindLinkLocal, ""},
		{"fe80::1%eth0", kindLinkLocal, ""},
		{"fec0::1", kindPrivate, ""},
		{"ff02::1", kindNonPublic, ""},
		{"100::1", kindNonPublic, ""},
		{"2001:db8::1", kindNonPublic, ""},
		{"3fff::1", kindNonPublic, ""},
		{"2001:2::1", kindNonPublic, ""},
		{"2001:10::1", kindNonPublic, ""},
		{"4000::1", kindNonPublic, ""},
		{"2a05:d018::1", "", ""},
		{"2600:1f18::1", "", ""},
		{"2001:4860:4860::8888", "", ""},
	}
	for _, tt := range tests {
		c := classifyAddr(netip.MustParseAddr(tt.addr))
		if c.kind != tt.kind || c.via != tt.via {
			t.Errorf("classifyAddr(%s) = %q via %q, want %q via %q", tt.addr, c.kind, c.via, tt.kind, tt.via)
		}
	}
}

// TestIsLoopbackIsTheGuardsRule: plain http and an unguarded site are allowed only for
// the machine itself, never for an address that reaches a loopback IPv4 address
// through a translator.
func TestIsLoopbackIsTheGuardsRule(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.9.9.9": true, "::1": true, "::ffff:127.0.0.1": true,
		"64:ff9b::7f00:1": false, "2002:7f00:1::1": false, "::127.0.0.1": false, "10.0.0.1": false, "example.com": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestClassifyName: names that are addresses in another spelling, or loopback by
// definition, are refused before any resolver or proxy sees them.
func TestClassifyName(t *testing.T) {
	for _, h := range []string{"localhost", "LOCALHOST.", "x.localhost", "2130706433", "0x7f000001", "0x7f.1", "127.1", "0177.0.0.1", "a.b.1"} {
		if classifyName(h) == "" {
			t.Errorf("classifyName(%q) = \"\", want a refusal", h)
		}
	}
	for _, h := range []string{"s3.amazonaws.com", "bucket.s3.eu-west-1.amazonaws.com", "1.example.com", "x1", "0xg", "example.com."} {
		if why := classifyName(h); why != "" {
			t.Errorf("classifyName(%q) = %q, want none", h, why)
		}
	}
}

// connectProxy is a loopback HTTPS proxy: it answers CONNECT by resolving the target
// itself (from its own table, as a corporate proxy resolves names the runner cannot)
// and tunnelling to it.
type connectProxy struct {
	srv     *httptest.Server
	mu      sync.Mutex
	targets []string
}

func newConnectProxy(t *testing.T, resolve func(host string) string) *connectProxy {
	p := &connectProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.targets = append(p.targets, r.Host)
		p.mu.Unlock()
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		host, _, _ := net.SplitHostPort(r.Host)
		to := resolve(host)
		if to == "" {
			http.Error(w, "no such host", http.StatusBadGateway)
			return
		}
		up, err := net.Dial("tcp", to)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.Close()
		w.WriteHeader(http.StatusOK)
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		if err := rw.Flush(); err != nil {
			return
		}
		go func() { io.Copy(up, bufio.NewReader(rw)); up.(*net.TCPConn).CloseWrite() }()
		io.Copy(conn, up)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *connectProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

// TestProxyResolvesWhatTheRunnerCannot: behind an HTTPS proxy, an upload or download
// host the runner cannot resolve is the proxy's to resolve, and reaches S3 through a
// real CONNECT tunnel; an IP literal or a name that does resolve to a non-public
// address is still refused before the proxy hears of it.
func TestProxyResolvesWhatTheRunnerCannot(t *testing.T) {
	var e *offsiteEnv
	proxy := newConnectProxy(t, func(host string) string {
		if host == "internal-bucket.example.com" {
			return e.srv.Listener.Addr().String()
		}
		return ""
	})
	proxyURL, _ := url.Parse(proxy.srv.URL)
	e = newOffsiteEnv(t, func(tr *http.Transport) http.RoundTripper { tr.Proxy = http.ProxyURL(proxyURL); return tr })
	ctx := context.Background()

	const unresolvable = "https://internal-bucket.example.com/f"
	if b, err := e.client.Download(ctx, unresolvable, 100); err != nil || string(b) != "content" {
		t.Fatalf("download through the proxy = %q, %v", b, err)
	}
	if err := e.client.Upload(ctx, &Ref{URL: unresolvable, File: File{ID: 1}}, strings.NewReader("x"), 1, "a.png", nil); err != nil {
		t.Fatalf("upload through the proxy = %v", err)
	}
	got := proxy.seen() // one tunnel may carry both requests
	if len(got) == 0 || len(got) > 2 || got[0] != "internal-bucket.example.com:443" || got[len(got)-1] != got[0] {
		t.Errorf("the proxy was asked for %q, want the unresolved name", got)
	}
	if e.dialed.Load() != 0 {
		t.Errorf("%d direct connections, want none: the proxy carries everything", e.dialed.Load())
	}

	before := len(proxy.seen())
	for _, u := range []string{
		"https://10.0.0.1/f", "https://[64:ff9b::a00:1]/f", "https://[2002:a9fe:a9fe::1]/f",
		"https://lan.example.com/f", "https://meta.example.com/f", "https://localhost/f", "https://2130706433/f",
	} {
		err := e.client.Upload(ctx, &Ref{URL: u, File: File{ID: 1}}, strings.NewReader("x"), 1, "a.png", nil)
		if err == nil || !strings.Contains(err.Error(), "refusing to connect") {
			t.Errorf("upload to %s through the proxy = %v, want a refusal", u, err)
		}
	}
	if n := len(proxy.seen()) - before; n != 0 {
		t.Errorf("the proxy was asked %d times for refused hosts: %q", n, proxy.seen()[before:])
	}
}
