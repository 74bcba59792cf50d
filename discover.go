package upnpmap

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Discover probes the gateway with every enabled method at once (a PCP
// ANNOUNCE, a NAT-PMP external address request, an SSDP search unicast to the
// gateway, plus multicast after multicastAfter when the gateway came from the
// routing table or Interfaces are set) and returns as soon as the answers
// are in:
//
//   - at once when every method has answered or failed for good (an ICMP
//     port unreachable, a PCP server that speaks only NAT-PMP);
//   - otherwise probeGrace after the first answer (twice that answer's
//     round trip on a slower link). SSDP responders delay their answers on purpose
//     — miniupnpd in the lab, UDA devices by up to MX seconds — so
//     UPnP is the method that most often arrives late;
//   - a method whose first answer is in by then (UPnP: the SSDP answer,
//     with the device description still being fetched) is waited for, up to
//     RequestTimeout from that answer;
//   - after ProbeTimeout when nothing answers; the error then wraps
//     ErrNoGateway and ErrTimeout and names each method's failure.
//
// What it learns is kept for later calls to Map (for probeTTL). A method
// that was cut short by the grace is not recorded as missing: Map falls back
// to it, and List and ExternalAddr use it, after asking it again on its own.
// (A Map with nothing cached makes a probe of its own that stops sooner; see
// Map.)
func (c *Client) Discover(ctx context.Context) (_ *DiscoverResult, err error) {
	defer func() { err = cleanErr(err) }() // router text in the message
	gw, err := c.gateway(ctx)
	if err != nil {
		return nil, err
	}
	res, err := gw.discover(ctx)
	if err == nil {
		c.discoverUpstream(ctx, res) // chain_discover.go: double NAT only
	}
	return res, err
}

// DiscoverResult is what a probe of the gateway found.
type DiscoverResult struct {
	// Gateway is the router that was probed.
	Gateway netip.Addr
	// Local is this machine's address on the gateway's link (what mappings
	// to "this machine" point at).
	Local netip.Addr
	// Methods lists the methods that answered, in the Client's preference
	// order.
	Methods []Method
	// ExternalAddr is the gateway's external address, where a method told it
	// (NAT-PMP, UPnP); zero otherwise.
	ExternalAddr netip.Addr
	// ExternalPrivate reports that ExternalAddr is itself private, CGNAT
	// (100.64.0.0/10), loopback or link-local: the gateway sits behind
	// another NAT (double NAT), so mappings succeed but are not reachable
	// from the Internet.
	ExternalPrivate bool
	// Device is the UPnP device's friendly name (capped and stripped of
	// control and bidi characters) and Location its description URL, when
	// UPnP answered.
	Device   string
	Location string
	// Elapsed is how long the probe took.
	Elapsed time.Duration
	// Upstream is what a probe of the upstream router found, when the
	// gateway sits behind a double NAT (ExternalPrivate, or
	// Client.Upstream set) and chaining is on (Client.NoChain unset): the
	// router Map chains mappings through. Nil otherwise, and when it could
	// not be found or did not answer: UpstreamErr then says why.
	Upstream    *DiscoverResult
	UpstreamErr error
}

// Has reports whether method m answered.
func (r *DiscoverResult) Has(m Method) bool {
	for _, x := range r.Methods {
		if x == m {
			return true
		}
	}
	return false
}

// String is a one-line summary that names a double NAT.
func (r *DiscoverResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "gateway %v", r.Gateway)
	if len(r.Methods) > 0 {
		ms := make([]string, len(r.Methods))
		for i, m := range r.Methods {
			ms[i] = string(m)
		}
		fmt.Fprintf(&b, " speaks %s", strings.Join(ms, ", "))
	}
	if r.ExternalAddr.IsValid() {
		fmt.Fprintf(&b, "; external address %v", r.ExternalAddr)
		if r.ExternalPrivate {
			b.WriteString(" (not public: double NAT, mappings will not be reachable from the Internet)")
		}
	}
	if r.Device != "" {
		fmt.Fprintf(&b, "; UPnP device %q", r.Device)
	}
	if r.Upstream != nil {
		fmt.Fprintf(&b, "; upstream router: %v", r.Upstream)
	}
	return b.String()
}

// notPublic reports whether a is an address the Internet cannot reach: a
// private, CGNAT, loopback, link-local or unspecified one.
func notPublic(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || cgnat.Contains(a) || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified()
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598 shared address space
