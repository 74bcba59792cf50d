package upnpmap

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// mapper is one method's view of one gateway: the seam between the
// orchestration (probe, fallback, renewal, recovery, events) and the protocol
// packages. method_pcp.go, method_natpmp.go and method_upnp.go adapt pcp,
// natpmp and igd+discovery to it; the tests use fakes. Calls that change the
// gateway's table are made with the gateway's lock held (gateway.call), so a
// mapper needs no locking of its own for them; probe runs without the lock.
type mapper interface {
	method() Method
	// probe asks whether the gateway speaks the method. alive is called when
	// a first answer arrived but more work remains (UPnP: the SSDP reply is
	// in, the description is being fetched), so Discover waits for it.
	probe(ctx context.Context, alive func()) (*probeInfo, error)
	// mapPort creates a mapping (prev == nil) or renews or re-creates prev,
	// suggesting prev's external port (and PCP nonce).
	mapPort(ctx context.Context, q *mapReq, prev *grant) (*grant, error)
	// unmap deletes g from the gateway; a mapping already gone is success.
	unmap(ctx context.Context, q *mapReq, g *grant) error
	// remove deletes a mapping described by d (one-shot Client.Delete).
	remove(ctx context.Context, d DeleteRequest) error
}

// tableReader is implemented by the methods that can read the gateway's
// table (UPnP); PCP and NAT-PMP learn of lost state from epochs instead.
type tableReader interface {
	// check confirms that g still exists (errGone if not) and returns the
	// gateway's current external address; errNoCheck when it cannot.
	check(ctx context.Context, q *mapReq, g *grant) (netip.Addr, error)
	// list returns the gateway's table.
	list(ctx context.Context) ([]Entry, error)
}

// addrReporter is implemented by the methods that can ask the gateway for
// its external address (NAT-PMP and UPnP have a request for it; PCP makes
// a short-lived mapping, so it is asked last).
type addrReporter interface {
	// externalAddr asks for the external address. reset reports that the
	// answer's epoch says the gateway lost its state: a fact for the
	// caller, which tells the gateway's mappings.
	externalAddr(ctx context.Context) (ext netip.Addr, reset bool, err error)
}

// mapProber is implemented by the methods whose probe, on Map's path, can
// lead straight to the mapping when the method is the first choice: PCP's
// probe is the MAP request itself (its answer tells whether the gateway
// speaks PCP as well as an ANNOUNCE would, and saves a round trip); NAT-PMP's
// is the external address request a mapping needs anyway, followed at once
// by the MAP.
type mapProber interface {
	// probeMap creates q's mapping as the method's probe, with the
	// gateway's lock held. answered reports whether the gateway answered: a
	// refusal is an answer (the method is there, this mapping is not), a
	// timeout, an ICMP unreachable or a "speaks another version" is not.
	// alive, as for probe, is called when a first answer is in and more
	// requests follow (NAT-PMP's external address, before its MAP): the
	// gateway is there, and a later silence is a timeout, not "no gateway".
	probeMap(ctx context.Context, q *mapReq, alive func()) (g *grant, answered bool, err error)
}

// verifier is implemented by the methods whose new mappings are read back
// after Map has returned, by the mapping's goroutine (UPnP: some routers
// accept an AddPortMapping and keep another host's forward, libp2p/go-nat
// #8). The read-back costs a round trip that Map's caller need not wait for.
type verifier interface {
	// verify reads g back: nil when the gateway holds it or cannot say,
	// errGone when it does not hold it (or forwards the port elsewhere).
	verify(ctx context.Context, q *mapReq, g *grant) error
}

// grant is what the gateway granted for one mapping.
type grant struct {
	external netip.AddrPort
	internal netip.AddrPort
	// lifetime of the lease; 0 is a permanent UPnP lease.
	lifetime time.Duration
	// start is when the answer arrived (the renewer's clock); set by the
	// caller of mapPort, not by the mapper.
	start time.Time
	// nonce is the PCP mapping nonce, kept for renewal and deletion.
	nonce [12]byte
	// asked is the UPnP lease last asked for (0 after a 725), which a
	// renewal asks for again.
	asked time.Duration
	// reset says that the mapping had been lost on the gateway (epoch reset,
	// vanished UPnP entry, moved control URL) and this call re-created it.
	reset bool
	// unverified says that the entry was not read back yet (a new UPnP
	// mapping): the mapping's goroutine does it first (see verifier).
	unverified bool
	// pinholeID is the UPnP UniqueID of an IPv6 pinhole (see pinhole.go).
	pinholeID uint16
}

func (g *grant) permanent() bool { return g.lifetime <= 0 }

// expires is the end of the lease; zero for a permanent one.
func (g *grant) expires() time.Time {
	if g.permanent() {
		return time.Time{}
	}
	return g.start.Add(g.lifetime)
}

// probeInfo is what a probe learned.
type probeInfo struct {
	external netip.Addr // zero when the method does not say (PCP ANNOUNCE)
	device   string     // UPnP friendly name
	location string     // UPnP description URL
	reset    bool       // the epoch says the gateway lost its state
}

// Errors of the mapper seam.
var (
	// errGone: check found the mapping missing from the gateway.
	errGone = fmt.Errorf("%w: the mapping is gone from the gateway", ErrNoSuchEntry)
	// errNoCheck: the method has no way to check a mapping.
	errNoCheck = fmt.Errorf("%w: method cannot check a mapping", ErrUnsupported)
)

// newMappers returns the real methods for gw, in the default order.
func newMappers(gw *gateway) []mapper {
	return []mapper{newPCP(gw), newNATPMP(gw), newUPnP(gw)}
}
