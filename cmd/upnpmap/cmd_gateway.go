package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
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
	fs.BoolVar(&o.fake.miniupnpd, "miniupnpd", false, "answer as miniupnpd 2.3.1 does, not as the specs say")
	fs.StringVar(&o.fake.replay, "replay", "", "serve the captured router in `DIR` (testdata/routers/*)")
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
	Event    string `json:"event"`  // "added", "renewed", "removed"
	Method   string `json:"method"` // the entry's protocol (natpmp, pcp, upnp, manual)
	By       string `json:"by"`     // what made the change: natpmp, pcp, upnp, manual, expiry, reboot
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
		Miniupnpd:     o.fake.miniupnpd,
	}
	if o.fake.replay != "" {
		// A directory, checked here so that a typo is a usage error rather
		// than a failure to start; its files are read by Start.
		if fi, err := os.Stat(o.fake.replay); err != nil || !fi.IsDir() {
			return cfg, usagef("--replay %q: not a directory holding a captured router (rootDesc.xml, SCPDs, soap/)", o.fake.replay)
		}
		cfg.Replay = os.DirFS(o.fake.replay)
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
	q := newChangeQueue()
	cfg.OnChange = q.push
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
	watchTable(ctx, gw, q, p, o.logger)
	return nil
}

// changeQueue carries the fake router's table changes from its OnChange
// hook to the printing loop, in order and none lost. The hook runs under
// the gateway's lock, so it only appends and signals; it never blocks.
type changeQueue struct {
	mu      sync.Mutex
	pending []gatewaytest.Change
	wake    chan struct{} // capacity 1: "pending may be non-empty"
}

func newChangeQueue() *changeQueue { return &changeQueue{wake: make(chan struct{}, 1)} }

// push is the gateway's OnChange hook.
func (q *changeQueue) push(c gatewaytest.Change) {
	q.mu.Lock()
	q.pending = append(q.pending, c)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// drain returns the queued changes and empties the queue.
func (q *changeQueue) drain() []gatewaytest.Change {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.pending
	q.pending = nil
	return out
}

// watchTable prints every change to the fake router's table, as the
// gateway reports it, until ctx ends. The gateway fires no timers, so
// expiry is noticed by reading the table when the earliest lease runs out.
func watchTable(ctx context.Context, gw *gatewaytest.Gateway, q *changeQueue, p *printer, log *slog.Logger) {
	expire := time.NewTimer(time.Hour)
	expire.Stop()
	defer expire.Stop()
	for {
		for _, c := range q.drain() {
			printTableEvent(p, c)
		}
		// Reading the table prunes what has expired; the removals arrive
		// through the queue (and wake this loop again).
		if next := earliestExpiry(gw.Mappings()); !next.IsZero() {
			expire.Reset(max(time.Until(next), 0))
		} else {
			expire.Stop()
		}
		select {
		case <-ctx.Done():
			for _, c := range q.drain() {
				printTableEvent(p, c)
			}
			if log != nil {
				log.Debug("fake gateway stopping")
			}
			return
		case <-q.wake:
		case <-expire.C:
		}
	}
}

// earliestExpiry is the soonest lease end among ms, or zero if every one is
// permanent.
func earliestExpiry(ms []gatewaytest.Mapping) time.Time {
	var t time.Time
	for _, m := range ms {
		if !m.Expires.IsZero() && (t.IsZero() || m.Expires.Before(t)) {
			t = m.Expires
		}
	}
	return t
}

func printTableEvent(p *printer, c gatewaytest.Change) {
	m := c.Mapping
	internal := netip.AddrPortFrom(m.InternalAddr, m.InternalPort).String()
	if p.json {
		_ = p.object(tableEventJSON{Event: string(c.Kind), Method: m.Method, By: c.By, Protocol: m.Protocol,
			External: m.ExternalPort, Internal: internal, Lifetime: seconds(m.Lifetime)})
		return
	}
	note := "permanent"
	if m.Lifetime > 0 {
		note = "lifetime " + m.Lifetime.String()
	}
	switch c.By {
	case gatewaytest.ByExpiry:
		note = "expired"
	case gatewaytest.ByReboot:
		note = "lost in a reboot"
	}
	p.line("%s %s %s %d -> %s (%s)", c.Kind, m.Method, m.Protocol, m.ExternalPort, internal, note)
}
