package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/spf13/pflag"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

var gatewayCmd = &command{
	name:    "gateway",
	usage:   "gateway [flags]",
	summary: "run a fake router on loopback, for testing",
	about: `Run the built-in fake router in the foreground on a fresh loopback address
(127.x.y.z). It speaks PCP, NAT-PMP and UPnP IGD as a home router does, prints
where it listens and each change to its table, sends nothing off loopback, and
stops on Ctrl-C. Point programs at it with --gateway ADDRESS.`,
	examples: []string{
		"upnpmap gateway",
		"upnpmap discover --gateway 127.13.7.2      # in another terminal",
		"upnpmap gateway --no-pcp --no-natpmp --igd 1 --secure-mode",
	},
	flags:  []flagGroup{fakeFlags},
	common: []flagGroup{outputFlags},
	run:    runGateway,
}

func fakeFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.fake.external, "external", "", "external `IP` to report (default 203.0.113.7)")
	fs.BoolVar(&o.fake.noPCP, "no-pcp", false, "do not answer PCP")
	fs.BoolVar(&o.fake.noNATPMP, "no-natpmp", false, "do not answer NAT-PMP")
	fs.BoolVar(&o.fake.noUPnP, "no-upnp", false, "do not answer UPnP (SSDP and HTTP)")
	fs.IntVar(&o.fake.igdVersion, "igd", o.fake.igdVersion, "UPnP InternetGatewayDevice `version`, 1 or 2")
	fs.BoolVar(&o.fake.secureMode, "secure-mode", false, "UPnP: refuse mappings for other hosts (718/606)")
	fs.BoolVar(&o.fake.permanentOnly, "permanent-only", false, "UPnP: accept only permanent leases (725)")
}

// gatewayJSON is the first line `gateway --json` prints.
type gatewayJSON struct {
	Event    string `json:"event"` // "listening"
	Gateway  string `json:"gateway"`
	PCP      string `json:"pcp,omitempty"`
	SSDP     string `json:"ssdp,omitempty"`
	Location string `json:"location,omitempty"`
	External string `json:"external"`
}

// tableEventJSON is a change in the fake router's table.
type tableEventJSON struct {
	Event    string `json:"event"` // "added", "removed"
	Method   string `json:"method"`
	Protocol string `json:"protocol"`
	External uint16 `json:"external_port"`
	Internal string `json:"internal"`
	Lifetime int64  `json:"lifetime_s"`
}

// fakeConfig turns the flags into a gatewaytest.Config.
func (o *options) fakeConfig() (gatewaytest.Config, error) {
	cfg := gatewaytest.Config{
		DisablePCP:    o.fake.noPCP,
		DisableNATPMP: o.fake.noNATPMP,
		DisableUPnP:   o.fake.noUPnP,
		IGDVersion:    o.fake.igdVersion,
		SecureMode:    o.fake.secureMode,
		PermanentOnly: o.fake.permanentOnly,
	}
	if o.fake.igdVersion != 1 && o.fake.igdVersion != 2 {
		return cfg, usagef("--igd %d: want 1 or 2", o.fake.igdVersion)
	}
	if o.fake.external != "" {
		a, err := netip.ParseAddr(o.fake.external)
		if err != nil {
			return cfg, usagef("--external %q: not an IP address", o.fake.external)
		}
		cfg.ExternalAddr = a
	}
	if o.logger != nil {
		cfg.Logger = o.logger.With("side", "gateway")
	}
	return cfg, nil
}

func runGateway(ctx context.Context, a *app, o *options, _ []string) error {
	cfg, err := o.fakeConfig()
	if err != nil {
		return err
	}
	gw, err := gatewaytest.Start(cfg)
	if err != nil {
		return err
	}
	defer gw.Close()

	p := &printer{w: a.stdout, json: o.json}
	info := gatewayJSON{Event: "listening", Gateway: gw.Addr().String(), External: gw.ExternalAddr().String()}
	if !cfg.DisablePCP || !cfg.DisableNATPMP {
		info.PCP = gw.PCPAddr().String()
	}
	if !cfg.DisableUPnP {
		info.SSDP = gw.SSDPAddr().String()
		info.Location = gw.LocationURL()
	}
	if o.json {
		if err := p.object(info); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "fake gateway on %s (loopback only; Ctrl-C stops it)\n", info.Gateway)
		if err := p.fields([][2]string{
			{"  PCP, NAT-PMP", info.PCP},
			{"  SSDP", info.SSDP},
			{"  description", info.Location},
			{"  external", info.External},
		}); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "try: upnpmap discover --gateway %s\n", info.Gateway)
	}
	watchTable(ctx, gw, p, o.logger)
	return nil
}

// watchTable prints the changes to the fake router's table until ctx ends.
// Polling a snapshot is enough for a person watching; the table changes only
// a few times a second at most.
func watchTable(ctx context.Context, gw *gatewaytest.Gateway, p *printer, log *slog.Logger) {
	type key struct {
		method, proto string
		port          uint16
		internal      netip.AddrPort
	}
	seen := map[key]gatewaytest.Mapping{}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		now := map[key]gatewaytest.Mapping{}
		for _, m := range gw.Mappings() {
			now[key{m.Method, m.Protocol, m.ExternalPort, netip.AddrPortFrom(m.InternalAddr, m.InternalPort)}] = m
		}
		for k, m := range now {
			if _, ok := seen[k]; !ok {
				printTableEvent(p, "added", m)
			}
		}
		for k, m := range seen {
			if _, ok := now[k]; !ok {
				printTableEvent(p, "removed", m)
			}
		}
		seen = now
		select {
		case <-ctx.Done():
			if log != nil {
				log.Debug("fake gateway stopping")
			}
			return
		case <-tick.C:
		}
	}
}

func printTableEvent(p *printer, what string, m gatewaytest.Mapping) {
	internal := netip.AddrPortFrom(m.InternalAddr, m.InternalPort).String()
	if p.json {
		_ = p.object(tableEventJSON{Event: what, Method: m.Method, Protocol: m.Protocol,
			External: m.ExternalPort, Internal: internal, Lifetime: seconds(m.Lifetime)})
		return
	}
	life := "permanent"
	if m.Lifetime > 0 {
		life = "lifetime " + m.Lifetime.String()
	}
	p.line("%s %s %s %d -> %s (%s)", what, m.Method, m.Protocol, m.ExternalPort, internal, life)
}
