package upnpmap

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

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
	// Device is the UPnP device's friendly name and Location its
	// description URL, when UPnP answered.
	Device   string
	Location string
	// Elapsed is how long the probe took.
	Elapsed time.Duration
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
	return b.String()
}

// notPublic reports whether a is an address the Internet cannot reach: a
// private, CGNAT, loopback, link-local or unspecified one.
func notPublic(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || cgnat.Contains(a) || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified()
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598 shared address space

// noAnswer builds the error of a probe nothing answered, naming each method's
// failure.
func (gw *gateway) noAnswer(errs map[Method]error, ctxErr error) error {
	var parts []string
	var all []error
	if ctxErr != nil {
		parts = append(parts, ctxErr.Error())
		all = append(all, ErrTimeout, ctxErr)
	}
	for _, mp := range gw.mappers {
		if err := errs[mp.method()]; err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", mp.method(), err))
			all = append(all, err)
		}
	}
	return &probeError{gw: gw.addr, msg: strings.Join(parts, "; "), errs: all}
}

// probeError is the error of a probe that no method answered. It wraps
// ErrNoGateway and the methods' own errors (often ErrTimeout).
type probeError struct {
	gw   netip.Addr
	msg  string
	errs []error
}

func (e *probeError) Error() string {
	return fmt.Sprintf("upnpmap: no answer from gateway %v (%s)", e.gw, e.msg)
}

func (e *probeError) Unwrap() []error { return append([]error{ErrNoGateway}, e.errs...) }
