package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/spf13/pflag"
	"github.com/upnpmap/upnpmap/relay"
)

var relayCmd = &command{
	name:    "relay",
	usage:   "relay LISTEN TARGET [flags]",
	summary: "relay TCP or UDP from LISTEN to TARGET",
	about: `Relay connections (TCP) or datagrams (UDP) arriving on LISTEN ([HOST]:PORT)
to TARGET (HOST:PORT) until interrupted. Half-closes are kept, idle UDP sessions
expire, --allow limits who may connect (default: any host that reaches LISTEN).
Ports below 1024 need root or cap_net_bind_service, or LISTEN "systemd": the
sockets a .socket unit passes. add --relay and run --relay take these flags.`,
	examples: []string{
		"upnpmap relay :8080 192.168.1.5:80",
		"upnpmap relay :27015 192.168.1.5:27015 --udp --allow 203.0.113.0/24",
		"upnpmap relay systemd 192.168.1.5:80   # see examples/systemd/",
	},
	flags:   []flagGroup{protoFlags, relayFlags},
	common:  []flagGroup{outputFlags, sshFlags},
	minArgs: 2,
	maxArgs: 2,
	run:     runRelay,
}

// relayFlags are the flags of `relay`, also taken by `add --relay` and
// `run --relay`. Their zero values leave the relay package's defaults, which
// the usage texts state.
func relayFlags(fs *pflag.FlagSet, o *options) {
	fs.StringSliceVar(&o.allow, "allow", nil, "only clients in these `CIDR`s (default: all)")
	fs.IntVar(&o.maxConns, "max-conns", 0,
		fmt.Sprintf("at most `N` connections/sessions (default %d)", relay.DefaultMaxConns))
	fs.IntVar(&o.maxPerSource, "max-per-source", 0,
		fmt.Sprintf("at most `N` of them per client address (default %d)", relay.DefaultMaxConnsPerSource))
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 0,
		fmt.Sprintf("idle limit `D` (default TCP: none, UDP: %v)", relay.DefaultUDPIdleTimeout))
	fs.IntVar(&o.proxyProto, "proxy-protocol", 0, "send a PROXY header, `v`1 or v2, to TARGET")
}

// newRelay is the relay for spec as the relay flags configure it.
func (o *options) newRelay(spec relaySpec) *relay.Relay {
	return &relay.Relay{
		Network:              spec.proto,
		Listen:               spec.listen,
		Target:               spec.target,
		Allow:                o.allowPrefixes(),
		MaxConns:             o.maxConns,
		MaxSessions:          o.maxConns,
		MaxConnsPerSource:    o.maxPerSource,
		MaxSessionsPerSource: o.maxPerSource,
		IdleTimeout:          o.idleTimeout,
		ProxyProtocol:        o.proxyProto,
		Logger:               o.logger,
	}
}

// relayJSON is the line relay and run print when a relay starts.
type relayJSON struct {
	Event    string `json:"event"` // "relaying"
	Protocol string `json:"protocol"`
	Listen   string `json:"listen"`
	Target   string `json:"target"`
	// Addresses are where clients can reach the relay: Listen itself, or
	// every address of this machine when Listen is a wildcard.
	Addresses []string `json:"addresses"`
	Allow     []string `json:"allow"` // --allow; empty: everyone
	// Open is true when there is no --allow and an address is not loopback:
	// the whole LAN may connect (and the Internet, through a mapping).
	Open bool `json:"open"`
}

// startedJSON describes a started relay.
func (s *session) startedJSON(lr *liveRelay) relayJSON {
	addrs := reachableAt(lr.r.Addrs())
	return relayJSON{
		Event: "relaying", Protocol: lr.spec.proto, Listen: lr.addr, Target: lr.spec.target,
		Addresses: addrs, Allow: append([]string{}, s.o.allow...), Open: openToAll(s.o.allow, addrs),
	}
}

// printRelayStarted tells people where a relay listens and, without --allow,
// who may connect: a target that listens on loopback alone becomes reachable
// from wherever the relay is.
func (s *session) printRelayStarted(lr *liveRelay) {
	v := s.startedJSON(lr)
	s.p.line("relaying %s %s -> %s", v.Protocol, v.Listen, v.Target)
	s.p.line("  on %s", strings.Join(v.Addresses, ", "))
	if v.Open {
		s.a.warn("relay %s %s: no --allow, so any host that can reach these addresses may connect"+
			" (the whole LAN, and the Internet through a port mapping); limit it with e.g. --allow 192.168.1.0/24", v.Protocol, v.Listen)
	}
}

// reachableAt lists the addresses behind listening addresses: a wildcard
// (0.0.0.0, [::]) stands for every address of this machine's interfaces.
// Reading them sends nothing.
func reachableAt(listen []net.Addr) []string {
	var out []string
	for _, a := range listen {
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil || !ap.Addr().IsUnspecified() {
			out = append(out, a.String())
			continue
		}
		v4only := ap.Addr().Is4()
		for _, ip := range interfaceAddrs() {
			if v4only && !ip.Is4() {
				continue
			}
			out = append(out, netip.AddrPortFrom(ip, ap.Port()).String())
		}
	}
	return out
}

// interfaceAddrs are the addresses of the interfaces that are up, IPv4
// unmapped, IPv6 link-local ones with their zone.
func interfaceAddrs() []netip.Addr {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.Is6() && ip.IsLinkLocalUnicast() {
				ip = ip.WithZone(ifc.Name)
			}
			out = append(out, ip)
		}
	}
	return out
}

// openToAll reports whether other hosts may connect unchecked: there is no
// allow list and some address is not a loopback one.
func openToAll(allow, addrs []string) bool {
	if len(allow) > 0 {
		return false
	}
	for _, s := range addrs {
		ap, err := netip.ParseAddrPort(s)
		if err != nil || !ap.Addr().IsLoopback() {
			return true
		}
	}
	return false
}

// relayStoppedJSON is the line printed when a relay stops, with its counters.
type relayStoppedJSON struct {
	Event       string `json:"event"` // "relay-stopped"
	Protocol    string `json:"protocol"`
	Listen      string `json:"listen"`
	Conns       uint64 `json:"conns"`
	Sessions    uint64 `json:"sessions"`
	Denied      uint64 `json:"denied"`
	DialErrors  uint64 `json:"dial_errors"`
	BytesUp     uint64 `json:"bytes_up"`
	BytesDown   uint64 `json:"bytes_down"`
	PacketsUp   uint64 `json:"packets_up"`
	PacketsDown uint64 `json:"packets_down"`
	// Refused: over the per-source limit; Evicted: ended to make room at
	// the cap; Silent: TCP connections closed with nothing sent either way;
	// Dropped: UDP datagrams not forwarded.
	Refused uint64 `json:"refused"`
	Evicted uint64 `json:"evicted"`
	Silent  uint64 `json:"silent"`
	Dropped uint64 `json:"dropped"`
}

func relayStatsJSON(lr *liveRelay, st relay.Stats) relayStoppedJSON {
	return relayStoppedJSON{
		Event: "relay-stopped", Protocol: lr.spec.proto, Listen: lr.addr,
		Conns: st.Conns, Sessions: st.Sessions, Denied: st.Denied, DialErrors: st.DialErrors,
		BytesUp: st.BytesUp, BytesDown: st.BytesDown, PacketsUp: st.PacketsUp, PacketsDown: st.PacketsDown,
		Refused: st.Refused, Evicted: st.Evicted, Silent: st.SilentClosed, Dropped: st.Dropped,
	}
}

// statsLine summarises a relay's counters for people, the defences' work
// included.
func statsLine(proto string, st relay.Stats) string {
	if proto == "udp" {
		return fmt.Sprintf("%d sessions, %d datagrams in, %d out, %d denied, %d refused (per-source limit), %d evicted (at the cap), %d dropped",
			st.Sessions, st.PacketsUp, st.PacketsDown, st.Denied, st.Refused, st.Evicted, st.Dropped)
	}
	return fmt.Sprintf("%d connections, %d bytes in, %d out, %d denied, %d dial errors, %d refused (per-source limit), %d evicted (at the cap), %d closed silent",
		st.Conns, st.BytesUp, st.BytesDown, st.Denied, st.DialErrors, st.Refused, st.Evicted, st.SilentClosed)
}

// allowPrefixes returns --allow as prefixes (checked in checkRelayFlags).
func (o *options) allowPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range o.allow {
		if p, err := parseAllow(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// parseAllow accepts a CIDR prefix or a single address.
func parseAllow(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("--allow %q: want a prefix like 192.168.1.0/24 or an address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// relayFlagsApply rejects relay flags given where no relay runs (add or run
// without --relay), which would otherwise be ignored without a word.
func (o *options) relayFlagsApply(relaying bool) error {
	if relaying {
		return o.checkRelayFlags()
	}
	for name, given := range map[string]bool{
		"--allow":          len(o.allow) > 0,
		"--max-conns":      o.maxConns != 0,
		"--max-per-source": o.maxPerSource != 0,
		"--idle-timeout":   o.idleTimeout != 0,
		"--proxy-protocol": o.proxyProto != 0,
	} {
		if given {
			return usagef("%s applies to relays only: use it with --relay", name)
		}
	}
	return nil
}

// checkRelayFlags validates the relay flags.
func (o *options) checkRelayFlags() error {
	for _, s := range o.allow {
		if _, err := parseAllow(s); err != nil {
			return usagef("%v", err)
		}
	}
	if o.maxConns < 0 {
		return usagef("--max-conns %d: must be positive", o.maxConns)
	}
	if o.maxPerSource < 0 {
		return usagef("--max-per-source %d: must be positive", o.maxPerSource)
	}
	if o.idleTimeout < 0 {
		return usagef("--idle-timeout %v: must not be negative", o.idleTimeout)
	}
	if o.proxyProto != 0 && o.proxyProto != 1 && o.proxyProto != 2 {
		return usagef("--proxy-protocol %d: want 1 or 2", o.proxyProto)
	}
	return nil
}

func runRelay(ctx context.Context, a *app, o *options, args []string) error {
	if err := o.checkRelayFlags(); err != nil {
		return err
	}
	if o.ssh.via != "" {
		// A local forward (ssh -L): TARGET is reached from the server.
		listen, err := normalizeListen(args[0])
		if err != nil {
			return usagef("%v", err)
		}
		return runRelayVia(ctx, a, o, listen, args[1])
	}
	if err := checkTarget(args[1]); err != nil {
		return usagef("%v", err)
	}
	s := newSession(a, o)
	if args[0] == "systemd" {
		if err := s.startInherited(args[1]); err != nil {
			s.abort()
			return err
		}
		return s.run(ctx)
	}
	listen, err := normalizeListen(args[0])
	if err != nil {
		return usagef("%v", err)
	}
	for _, proto := range o.protocols() {
		if _, err := s.startRelay(relaySpec{proto: proto, listen: listen, target: args[1]}); err != nil {
			s.abort()
			return err
		}
	}
	return s.run(ctx)
}

// run prints what started and waits for the end.
func (s *session) run(ctx context.Context) error {
	if err := s.printStarted(); err != nil {
		s.abort()
		return err
	}
	return s.wait(ctx)
}

// startInherited relays the sockets systemd passed (LISTEN_FDS): TCP
// listeners and UDP sockets alike, each as its own relay so that each
// reports its own counters.
func (s *session) startInherited(target string) error {
	lns, pcs, err := relay.SystemdListeners()
	if err != nil {
		return err
	}
	if len(lns) == 0 && len(pcs) == 0 {
		return usagef("LISTEN systemd: no sockets were passed (LISTEN_FDS is unset);" +
			" start upnpmap from a .socket unit, see examples/systemd/")
	}
	for _, l := range lns {
		if _, err := s.startRelayWith(relaySpec{proto: "tcp", listen: l.Addr().String(), target: target},
			func(r *relay.Relay) { r.Listeners = []net.Listener{l} }); err != nil {
			return err
		}
	}
	for _, pc := range pcs {
		if _, err := s.startRelayWith(relaySpec{proto: "udp", listen: pc.LocalAddr().String(), target: target},
			func(r *relay.Relay) { r.PacketConns = []net.PacketConn{pc} }); err != nil {
			return err
		}
	}
	return nil
}
