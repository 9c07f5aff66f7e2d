package desk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
)

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// guardedTransport carries the requests to URLs Desk hands out (S3 uploads, downloads
// from other hosts), refusing any whose host resolves to a loopback, link-local or
// private address: a hostile or spoofed answer must not turn desksync into a probe
// of the pipeline's own network. Connecting directly, the check runs at dial time on
// the very addresses dialled, so a DNS answer cannot change between check and use;
// when a proxy carries the request (or the transport is not one we can hook), the
// host is resolved and checked before the request.
type guardedTransport struct {
	resolver Resolver
	base     http.RoundTripper
	direct   http.RoundTripper // base dialling only checked addresses; nil when base is not an *http.Transport
	proxied  func(*http.Request) bool
}

func newGuardedTransport(base http.RoundTripper, resolver Resolver) *guardedTransport {
	if base == nil {
		base = http.DefaultTransport
	}
	g := &guardedTransport{resolver: resolver, base: base}
	//lint:ignore SA1019 a DialTLS set by the caller would still bypass the checked DialContext
	if t, ok := base.(*http.Transport); ok && t.DialTLSContext == nil && t.DialTLS == nil {
		d := t.Clone()
		dial := d.DialContext
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		d.DialContext = g.dialer(dial)
		d.Proxy = nil
		g.direct = d
		g.proxied = func(req *http.Request) bool {
			if t.Proxy == nil {
				return false
			}
			u, err := t.Proxy(req)
			return err != nil || u != nil
		}
	}
	return g
}

func (g *guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if g.direct != nil && !g.proxied(req) {
		return g.direct.RoundTrip(req)
	}
	if _, err := g.check(req.Context(), req.URL.Hostname()); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return g.base.RoundTrip(req)
}

// dialer wraps dial so that it connects only to checked addresses of the host.
func (g *guardedTransport) dialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		addrs, err := g.check(ctx, host)
		if err != nil {
			return nil, err
		}
		var errs []error
		for _, a := range addrs {
			conn, err := dial(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}

// check resolves host and returns its addresses, or an *addressError when any of
// them is not a public one.
func (g *guardedTransport) check(ctx context.Context, host string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, a)
	} else {
		ips, err := g.resolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			if a, ok := netip.AddrFromSlice(ip.IP); ok {
				addrs = append(addrs, a.Unmap())
			}
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("%s has no address", host)
		}
	}
	for _, a := range addrs {
		if kind := nonPublic(a.Unmap()); kind != "" {
			return nil, &addressError{host: host, addr: a, kind: kind}
		}
	}
	return addrs, nil
}

// nonPublic names the kind of a, or "" when it is a public unicast address.
func nonPublic(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "link-local"
	case a.IsPrivate() || netip.MustParsePrefix("100.64.0.0/10").Contains(a): // RFC 6598: some clouds' metadata services
		return "private"
	case !a.IsGlobalUnicast():
		return "non-public"
	}
	return ""
}

// addressError is a URL from Desk whose host leads into a network desksync does not
// enter for Desk's sake.
type addressError struct {
	host string
	addr netip.Addr
	kind string
}

func (e *addressError) Error() string {
	if e.addr.String() == e.host {
		return fmt.Sprintf("refusing to connect to %s, a %s address", e.host, e.kind)
	}
	return fmt.Sprintf("refusing to connect to %s: it resolves to %s, a %s address", e.host, e.addr, e.kind)
}
