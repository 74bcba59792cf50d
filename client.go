package upnpmap

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/reach"
	"github.com/upnpmap/upnpmap/sshfwd"
)

// Defaults of the Client's timing fields.
const (
	DefaultProbeTimeout   = time.Second
	DefaultRequestTimeout = 4 * time.Second
	DefaultCloseTimeout   = 2 * time.Second
	DefaultPollInterval   = 2 * time.Minute
)

// probeTTL is how long what a probe learned (which methods answered, the
// UPnP control URL) is trusted by Map before it probes again. Failures
// during Map fall back to the next method regardless.
const probeTTL = 10 * time.Minute

// A Client maps ports on one gateway. Its zero value is ready to use: it finds
// the gateway in the routing table and tries PCP, NAT-PMP and UPnP in that
// order. Set the fields before first use and do not change or copy the Client
// afterwards; its methods are safe for concurrent use.
//
// A Client remembers per gateway what it learned (the methods that answered,
// the UPnP description and control URL) so that later calls skip the probe,
// and it serialises the calls that change a gateway's table: some routers
// fail under concurrent SOAP requests.
type Client struct {
	// Gateway is the router to talk to. Zero means the default gateway from
	// the routing table (discovery.DefaultGateways); SSDP then also searches
	// by multicast when the gateway has not answered its unicast search
	// within multicastAfter. A loopback Gateway (tests, the CLI's demo) never causes
	// multicast or a group join.
	Gateway netip.Addr
	// Location is a UPnP description URL learned earlier (e.g. cached by the
	// CLI). It is fetched and checked (its host must be the gateway) instead
	// of an SSDP search; on any failure the Client searches as usual.
	// DiscoverResult.Location reports the URL in use.
	Location string
	// Interfaces names the interfaces SSDP multicasts on. Nil means every
	// suitable interface when Gateway is zero, and when Gateway is set the
	// one interface whose prefix holds it (some routers answer only
	// multicast searches); none for a loopback Gateway.
	Interfaces []string
	// Methods restricts and orders the methods; nil means PCP, NATPMP, UPnP.
	Methods []Method
	// AnnounceAddr is where to listen for the gateway's announcements of a
	// reboot or a new external address. Zero means 224.0.0.1:5350 (or
	// [ff02::1]:5350 for an IPv6 gateway) joined on the interface facing the
	// gateway, except for a loopback Gateway, which gets no listener unless
	// AnnounceAddr is set. Tests pass a unicast loopback address. The
	// listener runs while the Client has live mappings, from settleDelay after
	// the first one's Map returned (a mapping detached at once opens none).
	AnnounceAddr netip.AddrPort
	// ProbeTimeout bounds a probe (Discover, or the one Map makes first)
	// when nothing answers; default DefaultProbeTimeout. Once one method has
	// answered, the others get a grace of probeGrace instead (twice the first
	// answer's round trip on a slow link), and a method half-way through
	// (UPnP: SSDP answered, the description is being fetched) gets
	// RequestTimeout from its first answer. See Discover; Map's probe stops
	// sooner, once the best method still possible has answered (see Map).
	ProbeTimeout time.Duration
	// RequestTimeout bounds one exchange with one method (create, renew,
	// delete, a UPnP check), retransmissions included, before Map falls back
	// to the next method; default DefaultRequestTimeout (long enough for
	// one PCP retransmission at 3 s).
	RequestTimeout time.Duration
	// CloseTimeout bounds the delete that Mapping.Close sends; default
	// DefaultCloseTimeout. Mapping.CloseContext takes a context instead.
	CloseTimeout time.Duration
	// PollInterval is how often UPnP mappings are checked between renewals
	// (GetSpecificPortMappingEntry and GetExternalIPAddress), so that a
	// vanished entry is re-created and a new external address reported,
	// and IPv6 pinholes too (UPnP: GetPinholePackets; PCP: an ANNOUNCE,
	// whose epoch shows a reboot), so that a pinhole alone finds a reboot.
	// Default DefaultPollInterval; negative disables polling (renewals still
	// check).
	PollInterval time.Duration
	// Logger receives what the Client does; nil is silent.
	Logger *slog.Logger
	// SSH, when set, is an SSH server to forward ports through (method
	// SSH, see method_ssh.go). With Methods empty it is the fallback: Map
	// uses it only when the router methods fail or give an external address
	// the Internet cannot reach (private, carrier-grade NAT). Methods can
	// name SSH first (straight to the server) or after router methods.
	SSH *sshfwd.Config
	// Gateway6 is the IPv6 router asked for pinholes (PCP, and UPnP at the
	// IPv4 description's path when Location6 is empty). Zero means the IPv6
	// default gateway from the routing table, unless Gateway is a loopback
	// address (then no pinhole unless Gateway6 or Location6 is set).
	Gateway6 netip.Addr
	// Location6 is the gateway's UPnP description URL over IPv6, for
	// WANIPv6FirewallControl pinholes; empty derives it (see Gateway6).
	Location6 string
	// HostIPv6 is the address pinholes open. Zero means this machine's
	// first stable global IPv6 address (not temporary, not unique-local),
	// re-read at each check so that a new prefix re-opens the pinhole.
	HostIPv6 netip.Addr
	// Checker is the reachability checker that Mapping.Verify asks
	// ("host[:port]", port 3478 by default; see package reach and
	// `upnpmap checkd`). Empty (the default): Verify fails. There is no
	// built-in checker: nothing contacts a third party the user did not name.
	Checker string
	// Upstream is the upstream (outer) router of a double NAT: the router
	// in front of the gateway, whose LAN the gateway's WAN is on. When it is
	// set, Map chains every IPv4 mapping through it (see Mapping.Legs):
	// the gateway maps E1 to this machine, the upstream router maps E2 to
	// the gateway's WAN address:E1. Zero means: chain only when double NAT
	// is detected (the gateway's external address is private or CGNAT), with
	// the upstream router found by findUpstream (Linux: a TTL-limited
	// probe that stays on the path, see upstream_linux.go; elsewhere no
	// automatic way: set this field). A loopback Gateway (tests, the demo)
	// is never probed for one.
	Upstream netip.Addr
	// NoChain turns chaining off: Map makes the mapping on the gateway only,
	// as before double NAT support, and sends nothing to any other router.
	// The zero value chains (see Upstream).
	NoChain bool
	// UpstreamMethods restricts and orders the methods tried on the
	// upstream router; nil means PCP, NAT-PMP, UPnP. (Methods applies to
	// the gateway alone: the two routers need not speak the same.)
	UpstreamMethods []Method
	// Reach tunes Verify's checks (transport, timeout, answering probes
	// while nothing listens); its LocalPort is replaced by the mapping's
	// internal port, and an empty Network by the mapping's family. Nil means
	// the zero reach.Client.
	Reach *reach.Client

	mu  sync.Mutex
	gws map[netip.Addr]*gateway // by address; guarded by mu
	ups map[netip.Addr]*gateway // upstream routers (chain.go), by address; guarded by mu

	// Seams for tests; nil (zero) means the real thing.
	clk            clock
	mappersFor     func(gw *gateway) []mapper
	announceJitter func(Method) time.Duration
	randFloat      func() float64
	settleAfter    time.Duration // replaces settleDelay when > 0
	// ifaces lists the interfaces and their prefixes; nil means the
	// machine's (tests inject theirs, see interfaceFor).
	ifaces func() ([]ifacePrefixes, error)
	// ssdpGroup, when valid, allows the multicast SSDP search for any
	// gateway and sends it there, on the loopback interface, instead of to
	// 239.255.255.250: tests point it at a fake router's SSDP address.
	ssdpGroup netip.AddrPort
	// ssdpNotifyAddr, when valid, is where the gateway's SSDP NOTIFYs are
	// read (a unicast loopback address a test's fake router sends them to)
	// instead of 239.255.255.250:1900 joined on the interface facing the
	// gateway; a loopback gateway gets no NOTIFY listener without it.
	ssdpNotifyAddr netip.AddrPort
	// hostAddrs lists this machine's IPv6 addresses; nil means the real
	// ones (see systemHostAddrs).
	hostAddrs func() ([]hostAddr, error)
	// pcp6Server, when valid, is the PCP server for pinholes (tests: the
	// fake's [::1]:port).
	pcp6Server netip.AddrPort
	// search6, when set, replaces the SSDP search over IPv6 that finds a
	// moved IPv6 description (tests: gatewaytest answers no IPv6 SSDP).
	search6 func(ctx context.Context, host netip.Addr) (*url.URL, error)
	// checkFn replaces reach.Client.Check in Mapping.Verify.
	checkFn verifyCheck
	// findUpstreamFn replaces findUpstream (the TTL probe): tests inject
	// theirs, and no test probes the real path.
	findUpstreamFn func(ctx context.Context, gw *gateway) (netip.Addr, error)
	// chainRetryAfter replaces chainRetryStart when > 0.
	chainRetryAfter time.Duration
	// stunFn replaces reach.STUN in UpstreamNAT.
	stunFn func(ctx context.Context, server string) (netip.AddrPort, error)
}

func (c *Client) log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c *Client) clock() clock {
	if c.clk == nil {
		return wallClock{}
	}
	return c.clk
}

func (c *Client) probeTimeout() time.Duration {
	if c.ProbeTimeout > 0 {
		return c.ProbeTimeout
	}
	return DefaultProbeTimeout
}

func (c *Client) requestTimeout() time.Duration {
	if c.RequestTimeout > 0 {
		return c.RequestTimeout
	}
	return DefaultRequestTimeout
}

func (c *Client) closeTimeout() time.Duration {
	if c.CloseTimeout > 0 {
		return c.CloseTimeout
	}
	return DefaultCloseTimeout
}

func (c *Client) pollInterval() time.Duration {
	switch {
	case c.PollInterval < 0:
		return 0
	case c.PollInterval == 0:
		return DefaultPollInterval
	}
	return c.PollInterval
}

func (c *Client) settleDelay() time.Duration {
	if c.settleAfter > 0 {
		return c.settleAfter
	}
	return settleDelay
}

func (c *Client) rand() float64 {
	if c.randFloat != nil {
		return c.randFloat()
	}
	return rand.Float64()
}

// pcpAnnounceDelay bounds the random wait of a PCP client before it acts on
// an announcement (RFC 6887 §14.1.1: uniformly up to 5 s), so that the
// server is not flooded by every client of the LAN at once.
const pcpAnnounceDelay = 5 * time.Second

// jitter is the wait before acting on news that every client on the LAN got
// at once (an announcement, a reset): random up to pcpAnnounceDelay for PCP;
// NAT-PMP asks for an immediate renewal (RFC 6886 §3.7), and UPnP has no
// rule.
func (c *Client) jitter(m Method) time.Duration {
	if c.announceJitter != nil {
		return c.announceJitter(m)
	}
	if m == PCP {
		return time.Duration(c.rand() * float64(pcpAnnounceDelay))
	}
	return 0
}

// methods is the checked preference order.
func (c *Client) methods() ([]Method, error) {
	if len(c.Methods) == 0 {
		return defaultMethods, nil
	}
	var out []Method
	for _, m := range c.Methods {
		switch m {
		case PCP, NATPMP, UPnP:
		case SSH: // not a router method: see method_ssh.go
			if c.SSH == nil {
				return nil, fmt.Errorf("upnpmap: %w: method ssh needs Client.SSH", ErrInvalidArgs)
			}
			continue
		default:
			return nil, fmt.Errorf("upnpmap: %w: unknown method %q", ErrInvalidArgs, m)
		}
		dup := false
		for _, o := range out {
			dup = dup || o == m
		}
		if !dup {
			out = append(out, m)
		}
	}
	return out, nil
}

// gateway returns the state of the gateway to use, creating it on first use.
func (c *Client) gateway(ctx context.Context) (*gateway, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("upnpmap: %w: %w", ErrTimeout, err)
	}
	methods, err := c.methods()
	if err != nil {
		return nil, err
	}
	addr, local, fromTable := c.Gateway.Unmap(), netip.Addr{}, false
	if !addr.IsValid() {
		gws, err := discovery.DefaultGateways()
		if err != nil {
			return nil, fmt.Errorf("upnpmap: %w", err)
		}
		if len(gws) == 0 {
			return nil, fmt.Errorf("upnpmap: %w: no default route", ErrNoGateway)
		}
		g := pickGateway(gws)
		addr, local, fromTable = g.Addr, g.Local, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gw := c.gws[addr]; gw != nil {
		return gw, nil
	}
	if !local.IsValid() {
		if local, err = discovery.LocalAddrFor(addr); err != nil {
			return nil, fmt.Errorf("upnpmap: %w: no route to gateway %v: %w", ErrNoGateway, addr, err)
		}
	}
	gw := newGateway(c, addr, local.Unmap(), fromTable, methods)
	if c.gws == nil {
		c.gws = make(map[netip.Addr]*gateway)
	}
	c.gws[addr] = gw
	return gw, nil
}

// pickGateway prefers the first IPv4 gateway (NAT-PMP and most UPnP routers
// live there; DefaultGateways lists them first, by metric).
func pickGateway(gws []discovery.Gateway) discovery.Gateway {
	for _, g := range gws {
		if g.Addr.Unmap().Is4() {
			return g
		}
	}
	return gws[0]
}

// ifacePrefixes is an interface and the prefixes of its addresses.
type ifacePrefixes struct {
	ifi      net.Interface
	prefixes []netip.Prefix
}

// interfaceFor finds the up, multicast-capable interface whose prefix holds
// addr.
func (c *Client) interfaceFor(addr netip.Addr) (net.Interface, bool) {
	list := c.ifaces
	if list == nil {
		list = systemInterfaces
	}
	ifs, err := list()
	if err != nil {
		c.log().Debug("listing interfaces", "err", errText(err))
		return net.Interface{}, false
	}
	for _, ip := range ifs {
		if ip.ifi.Flags&net.FlagUp == 0 || ip.ifi.Flags&net.FlagMulticast == 0 {
			continue
		}
		for _, p := range ip.prefixes {
			if p.Contains(addr.Unmap()) {
				return ip.ifi, true
			}
		}
	}
	return net.Interface{}, false
}

// systemInterfaces lists the machine's interfaces with their prefixes.
func systemInterfaces() ([]ifacePrefixes, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]ifacePrefixes, 0, len(ifs))
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		ip := ifacePrefixes{ifi: ifi}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if pa, ok := netip.AddrFromSlice(n.IP); ok {
					ones, _ := n.Mask.Size()
					ip.prefixes = append(ip.prefixes, netip.PrefixFrom(pa.Unmap(), ones))
				}
			}
		}
		out = append(out, ip)
	}
	return out, nil
}
