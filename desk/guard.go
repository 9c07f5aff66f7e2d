package desk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// guardedTransport carries the requests to URLs Desk hands out (S3 uploads, downloads
// from other hosts), refusing any whose host is or resolves to an address
// classifyAddr does not call public: a hostile or spoofed answer must not turn
// desksync into a probe of the pipeline's own network. Connecting directly, the check
// runs at dial time on the very addresses dialled, so a DNS answer cannot change
// between check and use; when a proxy carries the request (or the transport is not
// one we can hook), the host is resolved and checked before the request, and behind
// a proxy a name the runner cannot resolve is left to the proxy.
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
	// Only a transport we can see into is known to hand the request to a proxy.
	if _, err := g.check(req.Context(), req.URL.Hostname(), g.direct != nil); err != nil {
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
		addrs, err := g.check(ctx, host, false)
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

// check resolves host and returns its addresses, or an *addressError when the host or
// any of its addresses is not a public one. With unresolvedOK (a proxy carries the
// request) a name the runner cannot resolve is let through with no addresses: on
// runners that reach the world only through a proxy, resolving names is the proxy's
// job, and the proxy is the network boundary the operator chose.
func (g *guardedTransport) check(ctx context.Context, host string, unresolvedOK bool) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if c := classifyAddr(a); c.kind != "" {
			return nil, &addressError{host: host, addr: a, class: c}
		}
		return []netip.Addr{a}, nil
	}
	if why := classifyName(host); why != "" {
		return nil, &addressError{host: host, class: addrClass{kind: why}}
	}
	ips, err := g.resolver.LookupIPAddr(ctx, host)
	if err != nil {
		if unresolvedOK && ctx.Err() == nil {
			return nil, nil
		}
		return nil, err
	}
	var addrs []netip.Addr
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip.IP); ok {
			addrs = append(addrs, a.Unmap().WithZone(ip.Zone))
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%s has no address", host)
	}
	for _, a := range addrs {
		if c := classifyAddr(a); c.kind != "" {
			return nil, &addressError{host: host, addr: a, class: c}
		}
	}
	return addrs, nil
}

// Kinds of address the guard refuses.
const (
	kindLoopback  = "loopback"
	kindLinkLocal = "link-local"
	kindPrivate   = "private"
	kindNonPublic = "non-public"
)

// addrClass is what classifyAddr found out about an address.
type addrClass struct {
	kind string     // one of the kind* constants, or "" for a public unicast address
	via  string     // the translation the address embeds an IPv4 address by, or ""
	v4   netip.Addr // that embedded IPv4 address, when via is set
}

// Prefixes that are not public, checked in order; the first that holds the address
// decides. IPv4 follows IANA's special-purpose registry (everything it does not mark
// globally reachable); IPv6 allows only 2000::/3, less its special ranges, and hands
// the forms that carry an IPv4 address to the IPv4 rules.
var (
	v4Ranges = []struct {
		prefix netip.Prefix
		kind   string
	}{
		{netip.MustParsePrefix("0.0.0.0/8"), kindNonPublic}, // "this network"; 0.0.0.0 reaches the host itself
		{netip.MustParsePrefix("10.0.0.0/8"), kindPrivate},
		{netip.MustParsePrefix("100.64.0.0/10"), kindPrivate}, // shared address space: carrier NAT, some clouds' metadata
		{netip.MustParsePrefix("127.0.0.0/8"), kindLoopback},
		{netip.MustParsePrefix("169.254.0.0/16"), kindLinkLocal}, // cloud metadata at 169.254.169.254
		{netip.MustParsePrefix("172.16.0.0/12"), kindPrivate},
		{netip.MustParsePrefix("192.0.0.0/24"), kindNonPublic},   // protocol assignments (NAT64 discovery, DS-Lite)
		{netip.MustParsePrefix("192.0.2.0/24"), kindNonPublic},   // documentation
		{netip.MustParsePrefix("192.88.99.0/24"), kindNonPublic}, // the retired 6to4 relay anycast
		{netip.MustParsePrefix("192.168.0.0/16"), kindPrivate},
		{netip.MustParsePrefix("198.18.0.0/15"), kindPrivate},     // benchmarking; VPNs and proxies use it inside networks
		{netip.MustParsePrefix("198.51.100.0/24"), kindNonPublic}, // documentation
		{netip.MustParsePrefix("203.0.113.0/24"), kindNonPublic},  // documentation
		{netip.MustParsePrefix("224.0.0.0/3"), kindNonPublic},     // multicast, reserved, broadcast
	}
	v6Ranges = []struct {
		prefix netip.Prefix
		kind   string
	}{
		{netip.MustParsePrefix("::1/128"), kindLoopback},
		{netip.MustParsePrefix("64:ff9b:1::/48"), kindPrivate}, // local-use NAT64: where it leads is the local network's choice
		{netip.MustParsePrefix("fc00::/7"), kindPrivate},       // unique local
		{netip.MustParsePrefix("fe80::/10"), kindLinkLocal},
		{netip.MustParsePrefix("fec0::/10"), kindPrivate},       // the retired site-local
		{netip.MustParsePrefix("2001:db8::/32"), kindNonPublic}, // documentation
		{netip.MustParsePrefix("3fff::/20"), kindNonPublic},     // documentation
	}
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	teredo    = netip.MustParsePrefix("2001::/32")
	ietfV6    = netip.MustParsePrefix("2001::/23") // protocol assignments: benchmarking, ORCHID, …
	v4compat  = netip.MustParsePrefix("::/96")
	globalV6  = netip.MustParsePrefix("2000::/3")
)

// classifyAddr says which kind of network a leads into, the one rule every decision
// of the guard is made by. An IPv6 address that carries an IPv4 address a translator
// or tunnel delivers to (NAT64, 6to4, Teredo) is judged by that IPv4 address too, so
// 64:ff9b::a00:1 is as private as 10.0.0.1; IPv4-mapped addresses are dialled as IPv4
// and are that address.
func classifyAddr(a netip.Addr) addrClass {
	a = a.WithZone("").Unmap()
	if a.Is4() {
		for _, r := range v4Ranges {
			if r.prefix.Contains(a) {
				return addrClass{kind: r.kind}
			}
		}
		return addrClass{}
	}
	b := a.As16()
	embedded := func(via string, v4s ...netip.Addr) addrClass {
		for _, v4 := range v4s {
			if c := classifyAddr(v4); c.kind != "" {
				return addrClass{kind: c.kind, via: via, v4: v4}
			}
		}
		return addrClass{}
	}
	switch {
	case nat64.Contains(a):
		return embedded("NAT64", netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return embedded("6to4", netip.AddrFrom4([4]byte(b[2:6])))
	case teredo.Contains(a):
		// The server's address in the clear, the client's with its bits inverted.
		return embedded("Teredo", netip.AddrFrom4([4]byte(b[4:8])),
			netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}))
	case a == netip.IPv6Unspecified():
		return addrClass{kind: kindNonPublic}
	case v4compat.Contains(a) && a != netip.IPv6Loopback():
		// Deprecated, never routed on today's networks, and a tunnel to the embedded
		// address on hosts that still honour them: no public service uses one.
		return addrClass{kind: kindNonPublic, via: "IPv4-compatible", v4: netip.AddrFrom4([4]byte(b[12:16]))}
	}
	for _, r := range v6Ranges {
		if r.prefix.Contains(a) {
			return addrClass{kind: r.kind}
		}
	}
	if ietfV6.Contains(a) || !globalV6.Contains(a) {
		return addrClass{kind: kindNonPublic}
	}
	return addrClass{}
}

// classifyName says why a name is refused whatever a resolver answers, or "": a
// loopback name, or one that a resolver or proxy may read as an IPv4 address in
// another spelling ("2130706433", "0x7f.1", "127.1"), which the address rules would
// never see.
func classifyName(host string) string {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return "a loopback name"
	}
	labels := strings.Split(h, ".")
	if last := labels[len(labels)-1]; last != "" && numericLabel(last) {
		return "an IPv4 address in a non-standard spelling"
	}
	return ""
}

// numericLabel reports whether s is a number as inet_aton reads one: decimal, octal
// or 0x hex. No top-level domain is one, so a name that ends in one is an address.
func numericLabel(s string) bool {
	if t, ok := strings.CutPrefix(s, "0x"); ok {
		return strings.Trim(t, "0123456789abcdef") == ""
	}
	return strings.Trim(s, "0123456789") == ""
}

// addressError is a URL from Desk whose host leads into a network desksync does not
// enter for Desk's sake.
type addressError struct {
	host  string
	addr  netip.Addr // invalid when the name alone was refused; class.kind then says why
	class addrClass
}

func (e *addressError) Error() string {
	what := fmt.Sprintf("a %s address", e.class.kind)
	if e.class.via != "" {
		what = fmt.Sprintf("a %s address: the %s form of %s", e.class.kind, e.class.via, e.class.v4)
	}
	switch {
	case !e.addr.IsValid():
		return fmt.Sprintf("refusing to connect to %s, %s", e.host, e.class.kind)
	case e.addr.String() == e.host:
		return fmt.Sprintf("refusing to connect to %s, %s", e.host, what)
	}
	return fmt.Sprintf("refusing to connect to %s: it resolves to %s, %s", e.host, e.addr, what)
}
