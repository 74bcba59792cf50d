//go:build linux

package labtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/igd"
)

// Client mode: the test binary re-executed inside a lab namespace (see
// startClient) runs the front door there and reports on stdout, one JSON
// object per line. It reads commands from stdin, one per line:
//
//	external   report Mapping.External()
//	close      Close the mapping, report "closed" and exit
//
// End of input closes the mapping too, so a client whose test ended never
// keeps a mapping alive. The front door's debug log goes to stderr.

// clientEnv is set in the environment of a re-executed test binary.
const clientEnv = "UPNPMAP_LABTEST_CLIENT"

// msg is one line of a client's output.
type msg struct {
	Type string `json:"type"`         // mapped, event, external, closed, error, discover, ssdp, list, deleted
	ID   string `json:"id,omitempty"` // session: the mapping the answer is about

	Method   string        `json:"method,omitempty"`
	Protocol string        `json:"protocol,omitempty"`
	External string        `json:"external,omitempty"`
	Internal string        `json:"internal,omitempty"`
	Lifetime time.Duration `json:"lifetime,omitempty"`
	Kind     string        `json:"kind,omitempty"` // event: Renewed, Lost, …
	At       time.Time     `json:"at,omitzero"`    // event: Event.Time
	Err      string        `json:"err,omitempty"`
	Is       []string      `json:"is,omitempty"` // error: the sentinels it matches
	Elapsed  time.Duration `json:"elapsed,omitempty"`

	// discover
	Gateway      string   `json:"gateway,omitempty"`
	Local        string   `json:"local,omitempty"`
	Methods      []string `json:"methods,omitempty"`
	ExternalAddr string   `json:"external_addr,omitempty"`
	Location     string   `json:"location,omitempty"`
	Device       string   `json:"device,omitempty"`

	// list (session)
	Entries []entryMsg `json:"entries,omitempty"`

	// pinhole: the UniqueID of a UPnP pinhole
	Pinhole uint16 `json:"pinhole,omitempty"`

	// map: the IPv6 pinhole Map opened beside the IPv4 mapping
	// (Mapping.Pinhole), and why the other family is missing
	// (Mapping.OtherFamilyErr)
	Family          string `json:"family,omitempty"` // Mapping.Family
	PinholeMethod   string `json:"pinhole_method,omitempty"`
	PinholeExternal string `json:"pinhole_external,omitempty"`
	OtherFamilyErr  string `json:"other_family_err,omitempty"`

	// ssdp
	From string `json:"from,omitempty"`
	ST   string `json:"st,omitempty"`

	// chain (doublenat_client_test.go): Mapping.Legs and UpstreamErr; for
	// an event, Event.Leg
	Chain *chainInfo `json:"chain,omitempty"`
	Leg   int        `json:"leg,omitempty"`
}

// sentinels name the front door's errors for msg.Is.
var sentinels = []struct {
	name string
	err  error
}{
	{"NoGateway", upnpmap.ErrNoGateway},
	{"NotAuthorized", upnpmap.ErrNotAuthorized},
	{"PortInUse", upnpmap.ErrPortInUse},
	{"NoResources", upnpmap.ErrNoResources},
	{"NetworkFailure", upnpmap.ErrNetworkFailure},
	{"Unsupported", upnpmap.ErrUnsupported},
	{"NoSuchEntry", upnpmap.ErrNoSuchEntry},
	{"Malformed", upnpmap.ErrMalformed},
	{"InvalidArgs", upnpmap.ErrInvalidArgs},
	{"Timeout", upnpmap.ErrTimeout},
	{"Refused", upnpmap.ErrRefused},
	{"UnusableDevice", upnpmap.ErrUnusableDevice},
	{"OnlyPermanentLeases", upnpmap.ErrOnlyPermanentLeases},
}

func errorMsg(err error) msg {
	m := msg{Type: "error", Err: err.Error()}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			m.Is = append(m.Is, s.name)
		}
	}
	return m
}

// output serialises the lines of a client process.
type output struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (o *output) send(m msg) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.enc.Encode(m) // stdout gone: the test has stopped listening
}

// runClient is the client mode's main; it returns the exit status.
func runClient(args []string) int {
	out := &output{enc: json.NewEncoder(os.Stdout)}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "labtest client: command missing (map, discover, ssdp, session, pinhole, chain)")
		return 2
	}
	var err error
	switch args[0] {
	case "map":
		err = clientMap(out, args[1:])
	case "discover":
		err = clientDiscover(out, args[1:])
	case "ssdp":
		err = clientSSDP(out, args[1:])
	case "session":
		err = clientSession(out, args[1:])
	case "pinhole":
		err = clientPinhole(out, args[1:])
	case "chain":
		err = clientChain(out, args[1:])
	default:
		err = fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		out.send(errorMsg(err))
		return 1
	}
	return 0
}

// labProbeTimeout is the client processes' Client.ProbeTimeout, three
// times the default: on a busy two-core CI machine miniupnpd and the
// client can take more than a second to exchange a first answer. The tests
// check what answers, not how fast; a method that is off costs this long.
const labProbeTimeout = 3 * time.Second

// clientFlags are the flags every client command takes.
type clientFlags struct {
	fs      *flag.FlagSet
	gateway string
	methods string
	timeout time.Duration
	probe   time.Duration
}

func newClientFlags(name string) *clientFlags {
	f := &clientFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.StringVar(&f.gateway, "gateway", "", "gateway address; empty: from the routing table")
	f.fs.StringVar(&f.methods, "methods", "", "comma-separated methods; empty: all")
	f.fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "bound of the command's first step")
	f.fs.DurationVar(&f.probe, "probe-timeout", labProbeTimeout, "Client.ProbeTimeout")
	return f
}

// client builds the front door's Client from the flags, logging to stderr.
func (f *clientFlags) client() (*upnpmap.Client, error) {
	c := &upnpmap.Client{
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ProbeTimeout: f.probe,
	}
	if f.gateway != "" {
		gw, err := netip.ParseAddr(f.gateway)
		if err != nil {
			return nil, err
		}
		c.Gateway = gw
	}
	if f.methods != "" {
		for _, s := range strings.Split(f.methods, ",") {
			m, err := upnpmap.ParseMethod(s)
			if err != nil {
				return nil, err
			}
			c.Methods = append(c.Methods, m)
		}
	}
	return c, nil
}

// clientMap maps a port, reports the mapping and its events, and closes it
// when told to or when stdin ends.
func clientMap(out *output, args []string) error {
	f := newClientFlags("map")
	var (
		proto, internal, desc string
		family, announce      string
		port, ext             uint
		exact                 bool
		lifetime, poll        time.Duration
	)
	f.fs.StringVar(&proto, "proto", "tcp", "tcp or udp")
	f.fs.UintVar(&port, "port", 0, "internal port")
	f.fs.UintVar(&ext, "ext", 0, "external port wished for")
	f.fs.BoolVar(&exact, "exact", false, "Request.ExactPort")
	f.fs.StringVar(&internal, "internal", "", "internal host; empty: this one")
	f.fs.StringVar(&desc, "desc", "", "description")
	f.fs.DurationVar(&lifetime, "lifetime", 0, "lease asked for")
	f.fs.DurationVar(&poll, "poll", 0, "Client.PollInterval")
	f.fs.StringVar(&family, "family", "", "Request.Family: 4, 6, or empty for both")
	f.fs.StringVar(&announce, "announce", "", "Client.AnnounceAddr (an unused address: no announcements)")
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	c.PollInterval = poll
	if announce != "" {
		if c.AnnounceAddr, err = netip.ParseAddrPort(announce); err != nil {
			return err
		}
	}
	fam, ok := map[string]upnpmap.Family{"": upnpmap.BothFamilies, "4": upnpmap.IPv4, "6": upnpmap.IPv6}[family]
	if !ok {
		return fmt.Errorf("map: -family %q: want 4, 6 or empty", family)
	}
	req := upnpmap.Request{
		Protocol:     upnpmap.Protocol(proto),
		InternalPort: uint16(port),
		ExternalPort: uint16(ext),
		ExactPort:    exact,
		Description:  desc,
		Lifetime:     lifetime,
		Family:       fam,
	}
	if internal != "" {
		if req.InternalAddr, err = netip.ParseAddr(internal); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	start := time.Now()
	m, err := c.Map(ctx, req)
	cancel()
	if err != nil {
		return err
	}
	mm := msg{Type: "mapped", Method: string(m.Method()), Protocol: string(m.Protocol()),
		External: m.External().String(), Internal: m.Internal().String(), Lifetime: m.Lifetime(),
		Elapsed: time.Since(start), Family: m.Family().String()}
	if p := m.Pinhole(); p != nil {
		mm.PinholeMethod, mm.PinholeExternal = string(p.Method()), p.External().String()
	}
	if err := m.OtherFamilyErr(); err != nil {
		mm.OtherFamilyErr = err.Error()
	}
	out.send(mm)

	var wg sync.WaitGroup
	wg.Add(1)
	go forwardEvents(&wg, out, m)
	defer wg.Wait() // Close ends the event channel

	in := bufio.NewScanner(io.LimitReader(os.Stdin, 1<<20))
	for in.Scan() {
		switch in.Text() {
		case "external":
			out.send(msg{Type: "external", External: m.External().String()})
		case "close":
			return closeMapping(out, m)
		default:
			out.send(msg{Type: "error", Err: "unknown command " + in.Text()})
		}
	}
	return closeMapping(out, m)
}

func closeMapping(out *output, m *upnpmap.Mapping) error {
	start := time.Now()
	err := m.Close()
	cm := msg{Type: "closed", Elapsed: time.Since(start)}
	if err != nil {
		cm.Err = err.Error()
	}
	out.send(cm)
	return nil
}

// forwardEvents reports m's events until its channel is closed.
func forwardEvents(wg *sync.WaitGroup, out *output, m *upnpmap.Mapping) {
	defer wg.Done()
	for ev := range m.Events() {
		em := msg{Type: "event", Kind: kindName(ev.Kind), External: ev.External.String(), At: ev.Time}
		if ev.Err != nil {
			em.Err = ev.Err.Error()
		}
		out.send(em)
	}
}

// kindName names an event kind after its constant, for the tests.
func kindName(k upnpmap.EventKind) string {
	switch k {
	case upnpmap.Renewed:
		return "Renewed"
	case upnpmap.ExternalAddressChanged:
		return "ExternalAddressChanged"
	case upnpmap.Lost:
		return "Lost"
	case upnpmap.Restored:
		return "Restored"
	case upnpmap.Failed:
		return "Failed"
	}
	return k.String()
}

// clientDiscover runs Client.Discover and reports the result.
func clientDiscover(out *output, args []string) error {
	f := newClientFlags("discover")
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	r, err := c.Discover(ctx)
	if err != nil {
		return err
	}
	dm := msg{Type: "discover", Gateway: r.Gateway.String(), Local: r.Local.String(),
		ExternalAddr: r.ExternalAddr.String(), Location: r.Location, Device: r.Device, Elapsed: r.Elapsed}
	for _, m := range r.Methods {
		dm.Methods = append(dm.Methods, string(m))
	}
	out.send(dm)
	return nil
}

// clientSSDP searches by multicast alone (no unicast to the gateway) on the
// named interface and reports the first answer: proof that discovery works
// over real multicast on the LAN. With -ipv6 FF02::C is searched too and
// only an answer over IPv6 counts; its description is then fetched
// from the LOCATION as given (Device is the WANIPv6FirewallControl control
// URL found there).
func clientSSDP(out *output, args []string) error {
	f := newClientFlags("ssdp")
	var ifname string
	var v6 bool
	f.fs.StringVar(&ifname, "interface", "eth0", "interface to search on")
	f.fs.BoolVar(&v6, "ipv6", false, "search the IPv6 groups too; report the first answer over IPv6")
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	s := &discovery.Searcher{Multicast: true, IPv6: v6, Interfaces: []net.Interface{*ifi}, MX: 1}
	if v6 {
		// FF02::C alone (no FF05::C): the link-local group, which needs
		// the interface as zone.
		s.Groups6 = []netip.AddrPort{discovery.SSDPGroupV6}
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	var first *discovery.Response
	start := time.Now()
	err = s.Search(ctx, func(r discovery.Response) {
		if v6 && !r.From.Addr().Unmap().Is6() {
			return
		}
		if first == nil {
			first = &r
			cancel()
		}
	})
	if err != nil {
		return err
	}
	if first == nil {
		return fmt.Errorf("%w: no SSDP answer to a multicast search on %s within %v", upnpmap.ErrTimeout, ifname, f.timeout)
	}
	m := msg{Type: "ssdp", From: first.From.String(), Location: first.Location.String(), ST: first.ST,
		Elapsed: time.Since(start)}
	if v6 {
		fctx, fcancel := context.WithTimeout(context.Background(), f.timeout)
		defer fcancel()
		root, err := discovery.Fetch(fctx, first.Location, first.From.Addr(), nil)
		if err != nil {
			return fmt.Errorf("fetching %v: %w", first.Location, err)
		}
		if svcs := root.Services(igd.FirewallServiceTypes...); len(svcs) > 0 {
			m.Device = svcs[0].ControlURL.String()
		}
	}
	out.send(m)
	return nil
}
