package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/upnpmap/upnpmap"
)

// options holds every flag of every command; each command registers only the
// groups it accepts, so the others keep their defaults.
type options struct {
	// network: where and how to reach the router
	gateway    string
	interfaces []string
	methods    []string
	timeout    time.Duration // 0: the defaults (see deadline)
	// double NAT (chainFlags): the upstream router, or none
	upstream        string
	noChain         bool
	upstreamMethods []string

	// output
	json    bool
	verbose bool

	// mapping
	udp, tcp    bool
	lifetime    time.Duration
	description string
	relay       bool // add: map to this machine and relay to HOST:PORT
	ipv4, ipv6  bool // add, run: one address family only (-4, -6)
	// the IPv6 router and host (hidden flags; default: the routing table
	// and the host's stable global address)
	gateway6, location6, host6 string

	// run
	maps, relays []string

	// add and run: --check (see verify.go)
	checker     string        // the checker, HOST[:PORT]; "": no check
	checkEvery  time.Duration // run: how often
	checkAnswer bool          // add: answer the probe while nothing listens
	// --via: an SSH server to forward through (ssh.go)
	ssh sshOptions

	// relay
	allow        []string
	maxConns     int // 0: the relay package's defaults, here and below
	maxPerSource int
	idleTimeout  time.Duration
	proxyProto   int

	// gateway (the fake router)
	fake fakeOptions

	doctor doctorOptions

	// filled in after parsing
	logger         *slog.Logger   // nil unless -v
	watch          *exchangeWatch // the library's log handler (see exchangeWatch)
	descriptionSet bool           // --description was given
}

// fakeOptions are the knobs of `upnpmap gateway` (a subset of gatewaytest.Config).
type fakeOptions struct {
	external      string
	noPCP         bool
	noNATPMP      bool
	noUPnP        bool
	igdVersion    int
	secureMode    bool
	permanentOnly bool
	miniupnpd     bool   // gatewaytest.Config.Miniupnpd
	replay        string // directory of a captured router (gatewaytest.Config.Replay)
}

const (
	defaultTimeout     = 10 * time.Second
	defaultLifetime    = 2 * time.Hour
	defaultDescription = "upnpmap"
)

func defaultOptions() *options {
	return &options{
		lifetime:    defaultLifetime,
		description: defaultDescription,
		fake:        fakeOptions{igdVersion: 2},
	}
}

// flagGroup registers a set of related flags.
type flagGroup func(fs *pflag.FlagSet, o *options)

func networkFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVarP(&o.gateway, "gateway", "g", "", "the router's `IP` (default: from the routing table)")
	fs.StringSliceVarP(&o.methods, "method", "m", nil, "`METHODS` to use: pcp,natpmp,upnp (default: all)")
	fs.StringSliceVarP(&o.interfaces, "interface", "i", nil, "UPnP search on interface `NAME` only (not upnpc's -i)")
	fs.DurationVar(&o.timeout, "timeout", 0, "wait up to `D` for the router to answer (default 1s)")
}

// chainFlags steer double NAT (see upnpmap.Client.Upstream): discover, add
// and run chain through the upstream router when the router's external
// address is private.
func chainFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.upstream, "upstream", "", "double NAT: the upstream router's `IP`, to map there too (default: found by a TTL-2 probe on Linux)")
	fs.BoolVar(&o.noChain, "no-chain", false, "double NAT: map on the router only, send nothing to the upstream router")
	fs.StringSliceVar(&o.upstreamMethods, "upstream-method", nil, "`METHODS` to use on the upstream router: pcp,natpmp,upnp (default: all)")
	// Hidden to keep each command's help on one screen; the README and
	// 'upnpmap help' name them.
	_ = fs.MarkHidden("no-chain")
	_ = fs.MarkHidden("upstream-method")
}

func outputFlags(fs *pflag.FlagSet, o *options) {
	jsonFlag(fs, o)
	verboseFlag(fs, o)
}

func jsonFlag(fs *pflag.FlagSet, o *options) {
	fs.BoolVar(&o.json, "json", false, "print one JSON object per result, one per line")
}

func verboseFlag(fs *pflag.FlagSet, o *options) {
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "log each protocol step, with timings, to stderr")
}

func protoFlags(fs *pflag.FlagSet, o *options) {
	fs.BoolVarP(&o.tcp, "tcp", "t", false, "TCP (the default; with --udp: both)")
	fs.BoolVarP(&o.udp, "udp", "u", false, "UDP")
}

// familyFlags restrict add and run to one address family; without them
// both are opened where the host has a stable global IPv6 address.
func familyFlags(fs *pflag.FlagSet, o *options) {
	fs.BoolVarP(&o.ipv4, "ipv4", "4", false, "IPv4 mapping only (default: also an IPv6 pinhole when this host has a global IPv6 address)")
	fs.BoolVarP(&o.ipv6, "ipv6", "6", false, "IPv6 pinhole only")
}

// ipv6Flags name the IPv6 router and address when the defaults (routing
// table, the host's stable global address) do not fit. Hidden: rarely
// needed, and the help must fit one screen.
func ipv6Flags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.gateway6, "gateway6", "", "the IPv6 router's `IP` for pinholes (default: from the routing table)")
	fs.StringVar(&o.location6, "location6", "", "the router's UPnP description `URL` over IPv6, for pinholes")
	fs.StringVar(&o.host6, "host6", "", "this host's IPv6 `IP` to open (default: its stable global address)")
	for _, n := range []string{"gateway6", "location6", "host6"} {
		_ = fs.MarkHidden(n)
	}
}

// family is the Request.Family of -4 and -6.
func (o *options) family() upnpmap.Family {
	switch {
	case o.ipv4:
		return upnpmap.IPv4
	case o.ipv6:
		return upnpmap.IPv6
	}
	return upnpmap.BothFamilies
}

func leaseFlags(fs *pflag.FlagSet, o *options) {
	fs.DurationVarP(&o.lifetime, "lifetime", "l", o.lifetime, "lease to ask the router for")
	fs.StringVarP(&o.description, "description", "d", o.description, "label in the router's table")
}

// check validates flag values that pflag's types cannot.
func (o *options) check() error {
	if o.ipv4 && o.ipv6 {
		return errors.New("--ipv4 and --ipv6 together: leave both out to open both")
	}
	for _, f := range []struct{ name, v string }{{"gateway6", o.gateway6}, {"host6", o.host6}} {
		if a, err := netip.ParseAddr(f.v); f.v != "" && (err != nil || !a.Is6()) {
			return fmt.Errorf("--%s %q: not an IPv6 address", f.name, f.v)
		}
	}
	if o.gateway != "" {
		if _, err := netip.ParseAddr(o.gateway); err != nil {
			return fmt.Errorf("--gateway %q: not an IP address (give the router's address, e.g. 192.168.1.1)", o.gateway)
		}
	}
	if o.upstream != "" {
		if a, err := netip.ParseAddr(o.upstream); err != nil || !a.Unmap().Is4() {
			return fmt.Errorf("--upstream %q: not an IPv4 address (give the upstream router's LAN address, e.g. 192.168.178.1)", o.upstream)
		}
		if o.noChain {
			return errors.New("--upstream and --no-chain together: choose one")
		}
	}
	for _, m := range o.upstreamMethods {
		if pm, err := upnpmap.ParseMethod(m); err != nil || pm == upnpmap.SSH {
			return fmt.Errorf("--upstream-method %q: want pcp, natpmp or upnp", m)
		}
	}
	for _, m := range o.methods {
		switch strings.ToLower(m) {
		case "pcp", "natpmp", "upnp":
		case "nat-pmp", "pmp":
		case "ssh": // with --via (checkSSH)
		default:
			return fmt.Errorf("--method %q: want pcp, natpmp, upnp or ssh", m)
		}
	}
	if err := o.checkSSH(); err != nil {
		return err
	}
	for _, name := range o.interfaces {
		if err := checkInterface(name); err != nil {
			return err
		}
	}
	if o.timeout < 0 {
		return fmt.Errorf("--timeout %v: must be positive", o.timeout)
	}
	if o.lifetime < time.Second {
		return fmt.Errorf("--lifetime %v: the protocols count in whole seconds; use 1s or more", o.lifetime)
	}
	return nil
}

// checkInterface rejects an --interface this machine does not have, rather
// than let UPnP search nowhere. It reads the interface table; nothing is
// sent.
func checkInterface(name string) error {
	if _, err := net.InterfaceByName(name); err == nil {
		return nil
	}
	var names []string
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			names = append(names, i.Name)
		}
	}
	msg := fmt.Sprintf("--interface %q: no such network interface (this machine has: %s)", name, strings.Join(names, ", "))
	if s := suggest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return errors.New(msg)
}

// deadline bounds a command's exchanges with the router: --timeout, or
// defaultTimeout. Without --timeout, finding the router gives up after the
// library's 1s probe budget, and the 10s leave room for retransmissions of
// the requests that follow (a PCP retransmission comes after 3s).
func (o *options) deadline() time.Duration {
	if o.timeout > 0 {
		return o.timeout
	}
	return defaultTimeout
}

// protocols returns the protocols --tcp/--udp select: TCP by default, both
// when both flags are given.
func (o *options) protocols() []string {
	switch {
	case o.tcp && o.udp:
		return []string{"tcp", "udp"}
	case o.udp:
		return []string{"udp"}
	default:
		return []string{"tcp"}
	}
}
