package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/spf13/pflag"
	"github.com/upnpmap/upnpmap/relay"
)

var relayCmd = &command{
	name:    "relay",
	usage:   "relay LISTEN TARGET [flags]",
	summary: "relay TCP or UDP from LISTEN to TARGET",
	about: `Relay connections (TCP) or datagrams (UDP) arriving on LISTEN ([HOST]:PORT)
to TARGET (HOST:PORT) until interrupted. Half-closes are kept, idle UDP sessions
expire, --allow limits who may connect. Ports below 1024 need root or
cap_net_bind_service, or LISTEN "systemd": the sockets a .socket unit passes.`,
	examples: []string{
		"upnpmap relay :8080 192.168.1.5:80",
		"upnpmap relay :27015 192.168.1.5:27015 --udp --allow 203.0.113.0/24",
		"upnpmap relay systemd 192.168.1.5:80   # see examples/systemd/",
	},
	flags:   []flagGroup{protoFlags, relayFlags},
	common:  []flagGroup{outputFlags},
	minArgs: 2,
	maxArgs: 2,
	run:     runRelay,
}

func relayFlags(fs *pflag.FlagSet, o *options) {
	fs.StringSliceVar(&o.allow, "allow", nil, "only clients in these `CIDR`s (default: all)")
	fs.IntVar(&o.maxConns, "max-conns", o.maxConns, "at most `N` connections/sessions at once")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", o.idleTimeout, "end connections idle for `D`")
	fs.IntVar(&o.proxyProto, "proxy-protocol", 0, "send a PROXY header, `v`1 or v2, to TARGET")
}

// relayJSON is the line relay and run print when a relay starts.
type relayJSON struct {
	Event    string `json:"event"` // "relaying"
	Protocol string `json:"protocol"`
	Listen   string `json:"listen"`
	Target   string `json:"target"`
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
}

func relayStatsJSON(lr *liveRelay, st relay.Stats) relayStoppedJSON {
	return relayStoppedJSON{
		Event: "relay-stopped", Protocol: lr.spec.proto, Listen: lr.addr,
		Conns: st.Conns, Sessions: st.Sessions, Denied: st.Denied, DialErrors: st.DialErrors,
		BytesUp: st.BytesUp, BytesDown: st.BytesDown, PacketsUp: st.PacketsUp, PacketsDown: st.PacketsDown,
	}
}

// statsLine summarises a relay's counters for people.
func statsLine(proto string, st relay.Stats) string {
	if proto == "udp" {
		return fmt.Sprintf("%d sessions, %d datagrams in, %d out, %d denied", st.Sessions, st.PacketsUp, st.PacketsDown, st.Denied)
	}
	return fmt.Sprintf("%d connections, %d bytes in, %d out, %d denied, %d dial errors",
		st.Conns, st.BytesUp, st.BytesDown, st.Denied, st.DialErrors)
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

// checkRelayFlags validates the relay flags.
func (o *options) checkRelayFlags() error {
	for _, s := range o.allow {
		if _, err := parseAllow(s); err != nil {
			return usagef("%v", err)
		}
	}
	if o.maxConns <= 0 {
		return usagef("--max-conns %d: must be positive", o.maxConns)
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
