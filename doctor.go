package upnpmap

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"time"
)

// DiagnoseOptions says what Diagnose examines. The zero value examines the
// gateway alone, with no port-specific checks and no outside check.
type DiagnoseOptions struct {
	// Port is the internal port the user wants reachable; 0 skips the
	// checks that need one (is anything listening).
	Port uint16
	// Protocol of Port; empty means TCP.
	Protocol Protocol
	// Checker is a STUN server or a reach checker ("host[:port]", port 3478
	// by default) that is asked which address it sees this host come from,
	// to find a NAT upstream of the router. Empty: no outside check
	// (nothing contacts a third party the user did not name).
	Checker string
	// Description marks the UPnP mappings this host's programs make; an
	// entry for this host's address with it that no live mapping of the
	// Client and no Recorded entry holds, and whose internal port nothing
	// of this machine serves, is reported as left behind.
	// Default DefaultDescription.
	Description string
	// Recorded are mappings the caller knows it left on the router on
	// purpose (the CLI's state file): they are not stale, and a recorded
	// UPnP mapping the router no longer lists is reported as gone.
	Recorded []RecordedMapping
	// Cleanup deletes the UPnP mappings found left behind.
	Cleanup bool

	goos string // runtime.GOOS unless a test sets it
}

// RecordedMapping is a mapping the caller keeps a record of.
type RecordedMapping struct {
	// Gateway is the router the mapping is on; zero means the one
	// diagnosed. Records of other gateways are ignored.
	Gateway  netip.Addr     `json:"gateway,omitzero"`
	Method   Method         `json:"method"`
	Protocol Protocol       `json:"protocol"`
	External netip.AddrPort `json:"external"`
	Internal netip.AddrPort `json:"internal"`
}

// Diagnose examines the default gateway; see Client.Diagnose.
func Diagnose(ctx context.Context, o DiagnoseOptions) (*Report, error) {
	return defaultClient.Diagnose(ctx, o)
}

// Diagnose answers "it says mapped but nothing works": it examines the
// interfaces, the gateway, each method's answer and its speed, the UPnP
// device's WAN state, the NAT situation, whether anything listens on
// o.Port here, the mappings this host left behind (removing them with
// o.Cleanup) and the device's known quirks, and gives each finding with
// what to do about it. Report.PortCanWork says whether a mapping of o.Port
// can make it reachable from the Internet.
//
// A gateway that does not answer is a finding (NAT NO_GATEWAY), not an
// error; the error is for bad options and an ended ctx. Every method is
// asked separately so that each one's answer and round trip are reported,
// which takes up to ProbeTimeout for a silent one (RequestTimeout more for
// a UPnP device that answered the search).
func (c *Client) Diagnose(ctx context.Context, o DiagnoseOptions) (*Report, error) {
	if o.Protocol == "" {
		o.Protocol = TCP
	}
	if o.Protocol != TCP && o.Protocol != UDP {
		return nil, fmt.Errorf("upnpmap: %w: protocol %q", ErrInvalidArgs, o.Protocol)
	}
	if o.Description == "" {
		o.Description = DefaultDescription
	}
	if o.goos == "" {
		o.goos = runtime.GOOS
	}
	if _, err := c.methods(); err != nil {
		return nil, err
	}
	start := time.Now()
	d := &diagnosis{c: c, o: o, r: &Report{Port: o.Port, Protocol: o.Protocol, NAT: NATUnknown}}
	d.run(ctx)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("upnpmap: diagnose: %w: %w", ErrTimeout, err)
	}
	d.r.Elapsed = time.Since(start)
	d.r.PortCanWork = d.r.portCanWork()
	return d.r, nil
}

// diagnosis is one run of Diagnose: what it has found so far.
type diagnosis struct {
	c  *Client
	o  DiagnoseOptions
	r  *Report
	gw *gateway

	upnp       *upnpMapper // nil unless UPnP answered
	noUplink   bool        // some method said the uplink is down
	statusDown bool        // GetStatusInfo or the link state says so
}

// run fills the report, step by step; a step that cannot run (no gateway,
// no UPnP) is skipped, and says so in a finding when the user should know.
func (d *diagnosis) run(ctx context.Context) {
	gw, gerr := d.c.gateway(ctx)
	if gw != nil {
		d.gw = gw
		d.r.Gateway, d.r.Local = gw.addr, gw.local
	}
	d.interfaces()
	if gerr != nil {
		d.r.NAT = NATNoGateway
		d.add(Finding{Code: "NO_GATEWAY", Severity: SeverityError,
			What: "no gateway to ask: " + errText(gerr),
			Fix:  "connect to the network that holds the router, or name it with --gateway IP (Client.Gateway)"})
		d.platform()
		return
	}
	d.probe(ctx)
	if !d.r.answered() {
		d.r.NAT = NATNoGateway
		d.add(Finding{Code: "NO_GATEWAY", Severity: SeverityError,
			What: fmt.Sprintf("gateway %v answered none of %s", gw.addr, methodNames(gw.mappers)),
			Fix:  "switch on UPnP IGD or NAT-PMP/PCP in the router's settings; if the router is not your default route, name it with --gateway IP"})
		d.listening(ctx)
		d.platform()
		return
	}
	d.external(ctx)
	d.device(ctx)
	d.nat(ctx)
	d.listening(ctx)
	d.stale(ctx)
	d.platform()
}

func (d *diagnosis) add(f Finding) { d.r.Findings = append(d.r.Findings, f) }

func methodNames(ms []mapper) string {
	s := ""
	for i, mp := range ms {
		if i > 0 {
			s += ", "
		}
		s += string(mp.method())
	}
	return s
}
