package gatewaytest

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Method names used by the knobs (SetSilent, SetDelay, SetResult) and by
// Requests. They are also the values of Mapping.Method.
const (
	NATPMP = "natpmp" // NAT-PMP, version 0 on UDP 5351
	PCP    = "pcp"    // PCP, version 2 on UDP 5351 (and [::1] with Config.IPv6)
	UPnP   = "upnp"   // SSDP and HTTP together
	SSDP   = "ssdp"   // the unicast M-SEARCH responder on UDP 1900
	SOAP   = "soap"   // HTTP: description and control
	Manual = "manual" // Mapping.Method of an AddMapping entry that names no method
)

// DefaultExternalAddr is the external address a zero Config reports
// (TEST-NET-3, RFC 5737).
var DefaultExternalAddr = netip.MustParseAddr("203.0.113.7")

// Config describes the router. The zero value is an IGD:2 router with
// WANIPConnection:2 that also speaks NAT-PMP and PCP, with external address
// DefaultExternalAddr.
type Config struct {
	// ExternalAddr is what GetExternalIPAddress, NAT-PMP opcode 0 and PCP
	// MAP replies report. Default DefaultExternalAddr. An unspecified address
	// (0.0.0.0, e.g. via SetExternalAddr) makes the gateway behave as if its
	// uplink were down: NAT-PMP/PCP answer NETWORK_FAILURE.
	ExternalAddr netip.Addr

	// DisableNATPMP and DisablePCP: with both set, UDP 5351 is not bound, so
	// requests meet an ICMP port unreachable. With only DisablePCP set the
	// gateway is a NAT-PMP-only router (see NATPMPOnly). With only
	// DisableNATPMP set, NAT-PMP requests get a PCP UNSUPP_VERSION reply
	// (version 2), as from a PCP-only server.
	DisableNATPMP, DisablePCP bool
	// DisableUPnP leaves UDP 1900 and the HTTP port closed.
	DisableUPnP bool
	// NATPMPOnly: PCP requests get the 8-byte NAT-PMP "unsupported version"
	// reply (version 0, result 1), the signal for a PCP client to fall back.
	NATPMPOnly bool

	// IGDVersion is 1 (InternetGatewayDevice:1 with WANIPConnection:1) or 2
	// (InternetGatewayDevice:2 with WANIPConnection:2, the default).
	IGDVersion int
	// PPP: the connection service is WANPPPConnection:1 instead of
	// WANIPConnection.
	PPP bool
	// PermanentOnly: AddPortMapping with a non-zero lease fails with 725
	// OnlyPermanentLeasesSupported.
	PermanentOnly bool
	// RequireZeroLease: AddPortMapping with a non-zero lease fails with 725
	// OnlyPermanentLeasesSupported, as under PermanentOnly, but the lease 0
	// that follows keeps the IGD version's meaning: under IGD:2 it is the
	// longest lease, 604800 s, after which the entry expires unless renewed
	// (a router that applies WANIPConnection:2's lease rule to its
	// permanent-only policy); under IGD:1 it is permanent. PermanentOnly wins
	// when both are set.
	RequireZeroLease bool
	// KeepManualForwards: AddPortMapping of an external port that another
	// host's entry holds (a manual forward, see AddMapping) answers success
	// but leaves the table as it was, as TP-Link routers do
	// (libp2p/go-nat#8); only a read-back (GetSpecificPortMappingEntry)
	// shows that the port still forwards elsewhere. AddAnyPortMapping is not
	// affected.
	KeepManualForwards bool
	// SecureMode: AddPortMapping for an InternalClient other than the caller
	// (the HTTP remote address) fails with 718 under IGD:1 and 606 under
	// IGD:2; DeletePortMapping of another host's entry fails with 606.
	SecureMode bool

	// PCPMinLifetime and PCPMaxLifetime clamp the lifetime of PCP MAP and
	// PEER requests, like miniupnpd's min_lifetime/max_lifetime. Defaults 120 s
	// and 86400 s. A negative PCPMinLifetime means no floor, for tests that
	// need short PCP lifetimes. NAT-PMP lifetimes are echoed unclamped (as
	// miniupnpd does); UPnP leases follow the IGD version (see soap.go).
	PCPMinLifetime, PCPMaxLifetime time.Duration
	// AllowThirdParty accepts the PCP THIRD_PARTY option; by default it is
	// refused with UNSUPP_OPTION (miniupnpd's default).
	AllowThirdParty bool
	// MaxMappings bounds the table; a full table answers NAT-PMP 4, PCP
	// NO_RESOURCES and UPnP 728. Default 1024.
	MaxMappings int

	// Miniupnpd turns on every deviation of miniupnpd 2.3.1 (Debian's build,
	// as measured in the lab; see research/miniupnpd-lab.md) that the
	// individual knobs below describe: SecureModeConflict,
	// PCPDeleteMissingNoResources, IgnorePreferFailure and
	// DeleteMissingSucceeds, and for pinholes PinholeStrict (its policy)
	// and PinholeGoneAs402. Without it the gateway follows the
	// specifications. Lower-case protocols are accepted either way, as
	// miniupnpd accepts them.
	Miniupnpd bool
	// SecureModeConflict: under SecureMode and IGD:2, AddPortMapping and
	// AddAnyPortMapping for another host fail with 718 ConflictInMappingEntry
	// instead of the spec's 606, as miniupnpd 2.3.1 answers.
	SecureModeConflict bool
	// PCPDeleteMissingNoResources: a PCP delete (lifetime 0) that matches no
	// mapping fails with NO_RESOURCES (lifetime 30 s), as miniupnpd 2.3.1
	// answers, where RFC 6887 §15 says SUCCESS.
	PCPDeleteMissingNoResources bool
	// IgnorePreferFailure: the PCP PREFER_FAILURE option is accepted but not
	// obeyed; a suggested port that is taken yields another port and
	// SUCCESS, as miniupnpd 2.3.1 does, where RFC 6887 §13.2 says
	// CANNOT_PROVIDE_EXTERNAL.
	IgnorePreferFailure bool
	// DeleteMissingSucceeds: UPnP DeletePortMapping of an entry that does not
	// exist succeeds, as on miniupnpd 2.3.1, instead of failing with 714
	// NoSuchEntryInArray.
	DeleteMissingSucceeds bool
	// RejectLowerCaseProtocol: UPnP actions whose NewProtocol is not exactly
	// "TCP" or "UDP" (e.g. "tcp") fail with 402 Invalid Args, as on some
	// routers (TP-Link ER605, tailscale#7377). By default, as on miniupnpd,
	// the protocol is matched without regard to case.
	RejectLowerCaseProtocol bool

	// OnlyLayer3Forwarding: the description's root device offers only a
	// Layer3Forwarding:1 service (no WANDevice, no connection service), as
	// some routers with UPnP half turned off do; SSDP still answers for
	// InternetGatewayDevice.
	OnlyLayer3Forwarding bool
	// NestedDevices puts that many bare devices, each inside the one before,
	// at the head of the root device's deviceList (the rest of the
	// description is unchanged and usable). Each level costs
	// NestedDeviceBytes: 6,000 levels make a description of about 250 KB,
	// within a 256 KiB size limit, that a parser must walk in bounded memory.
	NestedDevices int
	// FriendlyName and ModelName are the root device's friendlyName and
	// modelName; defaults "gatewaytest router" and "gatewaytest". They are
	// written XML-escaped; characters XML cannot carry (C0 controls other
	// than tab and newline) become U+FFFD, while C1 controls and bidi marks
	// go through as any hostile router could send them.
	FriendlyName, ModelName string

	// Replay serves a captured real router's description instead of the
	// built-in one: a directory (e.g. os.DirFS("testdata/routers/x")) holding
	// rootDesc.xml, its SCPDs named by the last path element of their
	// SCPDURL, optional soap/<Action>.xml response bodies and SOURCE.md. The
	// description's URLBase and absolute URLs are moved to the gateway's own
	// address (relative ones are kept); its WAN*Connection services answer
	// the port-mapping actions from the gateway's table; actions without
	// state (GetStatusInfo, GetExternalIPAddress …) answer with the captured
	// body when there is one. IGDVersion defaults to the capture's
	// InternetGatewayDevice version; IGDVersion, PPP, OnlyLayer3Forwarding,
	// NestedDevices, FriendlyName and ModelName do not change what is served.
	// Start fails if the capture cannot be read or parsed.
	Replay fs.FS

	// IPv6 also serves PCP on [::1] at an ephemeral port (see PCPAddr6) and,
	// unless UPnP is disabled, the description and control on [::1] at an
	// ephemeral port (see HTTPAddr6, LocationURL6). Start fails, naming
	// [::1], where the host has no IPv6 loopback.
	IPv6 bool

	// IPv6Host is the global IPv6 address of the test's own host. On
	// loopback every IPv6 request comes from ::1, so the gateway treats ::1
	// as IPv6Host wherever an address matters: the PCP client field and
	// source (a MAP from [::1] opens a pinhole to IPv6Host), and the caller
	// that Config.PinholeStrict compares with AddPinhole's InternalClient.
	// Default DefaultIPv6Host (2001:db8:77::20).
	IPv6Host netip.Addr
	// MaxPinholes bounds the open IPv6 pinholes, UPnP and PCP together:
	// AddPinhole beyond it fails with 701 PinholeSpaceExhausted, a PCP MAP
	// with NO_RESOURCES. Default DefaultMaxPinholes.
	MaxPinholes int
	// FirewallDisabled: GetFirewallStatus reports the IPv6 firewall off and
	// every other WANIPv6FirewallControl action fails with 702
	// FirewallDisabled (nothing to open).
	FirewallDisabled bool
	// InboundPinholesDisallowed: GetFirewallStatus reports inbound
	// pinholes not allowed and the other firewall actions fail with 703
	// InboundPinholeNotAllowed.
	InboundPinholesDisallowed bool
	// PinholeStrict applies miniupnpd's pinhole policy (the IGD:2
	// recommended one): AddPinhole, UpdatePinhole, DeletePinhole and the
	// checks fail with 606 when the request came over the IPv4 URL, when
	// InternalClient is not the caller (::1 counting as IPv6Host), or when
	// InternalPort is below 1024.
	PinholeStrict bool
	// PinholeGoneAs402: an unknown UniqueID gets 402 Invalid Args instead
	// of 704 NoSuchEntry, as from miniupnpd 2.3.1 with nftables.
	PinholeGoneAs402 bool
	// DeletePinhole606: DeletePinhole of an open pinhole fails with 606
	// while UpdatePinhole works, as on the routers of miniupnp #600.
	DeletePinhole606 bool
	// PCPv6Unsupported: PCP MAP and PEER requests from an IPv6 client fail
	// with result 5 (UNSUPP_OPTION), as from a PCP server that cannot open
	// pinholes; ANNOUNCE and IPv4 keep working.
	PCPv6Unsupported bool
	// PCPv6RenewNoResources: renewing an IPv6 PCP pinhole (same nonce,
	// non-zero lifetime) fails with NO_RESOURCES, as on OPNsense
	// (opnsense/plugins#4010); the pinhole stays until it expires.
	PCPv6RenewNoResources bool

	// BehindNAT, when set (IPv4), is the address every IPv4 request is
	// taken to come from, as an upstream router sees the hosts of a router
	// in front of it (double NAT): the NAT-PMP and PCP source (so NAT-PMP
	// maps to it, and a PCP client field must name it or meet
	// ADDRESS_MISMATCH) and the caller that UPnP secure mode compares
	// NewInternalClient with. Replies still go to the real source. Zero: the
	// real source.
	BehindNAT netip.Addr

	// AnnounceTo lists where announcements go when the gateway reboots or its
	// external address changes: the 12-byte NAT-PMP announcement and the PCP
	// ANNOUNCE response, both sent from Addr():5351 (IPv6 destinations get
	// the PCP one from the [::1] socket, when IPv6 is set). Empty: none.
	// Tests pass loopback addresses; the gateway never multicasts.
	AnnounceTo []netip.AddrPort
	// AnnounceCount copies of each announcement are sent, the first at once,
	// then after AnnounceInterval, doubling (RFC 6886 §3.2.1: 10 copies from
	// 250 ms). Defaults 3 and 20 ms so tests stay fast.
	AnnounceCount    int
	AnnounceInterval time.Duration

	// EpochBackwards makes every NAT-PMP and PCP answer (and announcement)
	// carry an epoch smaller than the one before, as from a router whose
	// clock restarts: RFC 6886 §3.6 and RFC 6887 §8.5 read each answer as a
	// reboot. The table is kept. Gateway.Epoch takes a value too.
	EpochBackwards bool

	// Now is the clock for expiry and epochs; nil means time.Now. Tests can
	// inject a clock to expire mappings or age the epoch without sleeping.
	Now func() time.Time

	// OnChange, when set, is called on every change to the mapping table
	// (added, renewed, removed; by which protocol, or by expiry or reboot),
	// synchronously and in order, while the gateway holds its lock: it must
	// not call the Gateway's methods, and should return quickly (queue the
	// change, print it). Expiry is noticed when the table is next read (any
	// request, or Mappings), as the gateway fires no timers of its own.
	OnChange func(Change)

	// Logger receives one debug line per request; nil is silent.
	Logger *slog.Logger
}

// withDefaults returns cfg with every zero field set to its documented
// default.
func (cfg Config) withDefaults() Config {
	if !cfg.ExternalAddr.IsValid() {
		cfg.ExternalAddr = DefaultExternalAddr
	}
	if cfg.IGDVersion != 1 {
		cfg.IGDVersion = 2
	}
	if cfg.PCPMinLifetime == 0 {
		cfg.PCPMinLifetime = 120 * time.Second
	}
	if cfg.PCPMinLifetime < 0 {
		cfg.PCPMinLifetime = 0
	}
	if cfg.PCPMaxLifetime <= 0 {
		cfg.PCPMaxLifetime = 86400 * time.Second
	}
	if cfg.MaxMappings <= 0 {
		cfg.MaxMappings = 1024
	}
	if cfg.AnnounceCount <= 0 {
		cfg.AnnounceCount = 3
	}
	if cfg.AnnounceInterval <= 0 {
		cfg.AnnounceInterval = 20 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Miniupnpd {
		cfg.SecureModeConflict = true
		cfg.PCPDeleteMissingNoResources = true
		cfg.IgnorePreferFailure = true
		cfg.DeleteMissingSucceeds = true
		cfg.PinholeStrict = true
		cfg.PinholeGoneAs402 = true
	}
	if !cfg.IPv6Host.IsValid() {
		cfg.IPv6Host = DefaultIPv6Host
	}
	if cfg.MaxPinholes <= 0 {
		cfg.MaxPinholes = DefaultMaxPinholes
	}
	if cfg.DisablePCP && !cfg.DisableNATPMP {
		cfg.NATPMPOnly = true
	}
	return cfg
}

// Gateway is a running fake router. Its methods are safe for concurrent use.
type Gateway struct {
	cfg    Config
	addr   netip.Addr
	log    *slog.Logger
	model  *model  // the UPnP device tree
	replay *replay // Config.Replay, loaded; nil without it

	pmp  *net.UDPConn // addr:5351, NAT-PMP and PCP; nil if both are disabled
	pcp6 *net.UDPConn // [::1]:ephemeral, PCP only; nil unless cfg.IPv6
	ssdp *net.UDPConn // addr:1900; nil if UPnP is disabled

	done      chan struct{} // closed by Close
	wg        sync.WaitGroup
	closeOnce sync.Once

	// bootMu orders HTTP requests against Reboot and ChangeConfig: a
	// request holds it shared while it is served, a restart exclusively,
	// so no request sees half a restart (the new state served on the old
	// port). Taken before mu, never while holding it.
	bootMu sync.RWMutex

	mu    sync.Mutex
	st    state    // guarded by mu
	http  *httpSrv // guarded by mu; the current description/control server
	http6 *httpSrv // guarded by mu; the same on [::1]; nil unless cfg.IPv6
	decoy *net.UDPConn
	// static answers SSDP from the router's own address (SetSSDPFromStatic).
	static *net.UDPConn
	gena   genaState // guarded by mu; GENA eventing (gena.go)
}

// httpSrv is one incarnation of the HTTP server; Reboot replaces it.
type httpSrv struct {
	ln   net.Listener
	srv  *http.Server
	port uint16
	// retired is set (with bootMu held) when a restart replaces this
	// incarnation: its requests are then dropped, as a restarted router's
	// old port answers nothing, even before srv.Close has run.
	retired atomic.Bool
}

// Start binds a fresh loopback address and starts serving. The caller must
// Close the Gateway.
func Start(cfg Config) (*Gateway, error) {
	var rp *replay
	if cfg.Replay != nil {
		var err error
		if rp, err = loadReplay(cfg.Replay); err != nil {
			return nil, fmt.Errorf("gatewaytest: replay: %w", err)
		}
		if cfg.IGDVersion == 0 {
			cfg.IGDVersion = rp.igdVersion()
		}
	}
	cfg = cfg.withDefaults()
	g := &Gateway{
		cfg:    cfg,
		log:    cfg.Logger,
		done:   make(chan struct{}),
		replay: rp,
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.st = newState(cfg, g.emitter())
	if rp != nil {
		g.model = rp.model()
	} else {
		g.model = newModel(cfg)
	}

	socks, err := bindLoopback(!(cfg.DisableNATPMP && cfg.DisablePCP), !cfg.DisableUPnP)
	if err != nil {
		return nil, fmt.Errorf("gatewaytest: %w", err)
	}
	g.addr, g.pmp, g.ssdp = socks.addr, socks.pmp, socks.ssdp
	if socks.http != nil {
		g.http = g.newHTTP(socks.http)
	}
	if cfg.IPv6 {
		c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
		if err != nil {
			g.closeSockets()
			return nil, fmt.Errorf("gatewaytest: PCP on [::1]: %w", err)
		}
		g.pcp6 = c
		if err := g.listenHTTP6(); err != nil {
			g.closeSockets()
			return nil, fmt.Errorf("gatewaytest: HTTP on [::1]: %w", err)
		}
	}

	if g.pmp != nil {
		g.goServe(g.pmp, g.handlePort5351)
	}
	if g.pcp6 != nil {
		g.goServe(g.pcp6, g.handlePCP6)
	}
	if g.ssdp != nil {
		g.goServe(g.ssdp, g.handleSSDP)
	}
	if g.http != nil {
		g.goHTTP(g.http)
	}
	if g.http6 != nil {
		g.goHTTP(g.http6)
	}
	return g, nil
}

// New starts a Gateway for a test and closes it when the test ends. It
// fails the test if the gateway cannot start. Pass the test's *testing.T
// (or *testing.B, *testing.F).
func New(t TB, cfg Config) *Gateway {
	t.Helper()
	g, err := Start(cfg)
	if err != nil {
		t.Fatalf("gatewaytest.Start: %v", err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// Addr is the gateway's loopback address, the one to give clients as their
// gateway. NAT-PMP and PCP listen on Addr():5351, SSDP on Addr():1900.
func (g *Gateway) Addr() netip.Addr { return g.addr }

// PCPAddr is the NAT-PMP/PCP server address, Addr():5351.
func (g *Gateway) PCPAddr() netip.AddrPort { return netip.AddrPortFrom(g.addr, 5351) }

// SSDPAddr is the unicast SSDP address, Addr():1900.
func (g *Gateway) SSDPAddr() netip.AddrPort { return netip.AddrPortFrom(g.addr, 1900) }

// PCPAddr6 is the IPv6 PCP server address ([::1]:port), or the zero value
// without Config.IPv6.
func (g *Gateway) PCPAddr6() netip.AddrPort {
	if g.pcp6 == nil {
		return netip.AddrPort{}
	}
	return g.pcp6.LocalAddr().(*net.UDPAddr).AddrPort()
}

// HTTPAddr is the current address of the description and control server
// (its port changes on Reboot), or the zero value with UPnP disabled.
func (g *Gateway) HTTPAddr() netip.AddrPort {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.http == nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(g.addr, g.http.port)
}

// LocationURL is the device description URL that SSDP advertises, e.g.
// "http://127.31.4.9:40123/rootDesc.xml". Empty with UPnP disabled.
func (g *Gateway) LocationURL() string {
	a := g.HTTPAddr()
	if !a.IsValid() {
		return ""
	}
	return "http://" + a.String() + descPath
}

// ExternalAddr is the external address the gateway currently reports.
func (g *Gateway) ExternalAddr() netip.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.st.ext
}

// Epoch is the current NAT-PMP/PCP epoch (seconds since the last reboot or
// external address change).
func (g *Gateway) Epoch() uint32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.st.epoch(g.cfg.Now())
}

// Close stops every goroutine and closes every socket. It is idempotent and
// returns nil.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		close(g.done)
		g.closeSockets()
		g.wg.Wait()
	})
	return nil
}

func (g *Gateway) closeSockets() {
	for _, c := range []*net.UDPConn{g.pmp, g.pcp6, g.ssdp} {
		if c != nil {
			c.Close()
		}
	}
	g.mu.Lock()
	h, h6, d, s := g.http, g.http6, g.decoy, g.static
	g.mu.Unlock()
	if s != nil {
		s.Close()
	}
	for _, h := range []*httpSrv{h, h6} {
		if h != nil {
			h.srv.Close()
			h.ln.Close() // Serve may not have taken it over yet
		}
	}
	if d != nil {
		d.Close()
	}
}

// closed reports whether Close has begun.
func (g *Gateway) closed() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}
