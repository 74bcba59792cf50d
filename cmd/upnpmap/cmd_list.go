package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/internal/safetext"
)

var listCmd = &command{
	name:    "list",
	usage:   "list [flags]",
	summary: "the router's mappings, and the ones we made",
	about: `Show the router's port mappings. UPnP routers list their whole table. PCP
and NAT-PMP cannot list, so for them upnpmap shows the mappings it made itself,
which it records in its state file (in your cache directory); OURS marks those.
Behind a double NAT, a mapping upnpmap chained through the router in front has
a second row for that router's part, its METHOD followed by @ and that router.`,
	examples: []string{
		"upnpmap list",
		"upnpmap list --json | jq -r 'select(.protocol==\"udp\") | .external'",
	},
	common: []flagGroup{networkFlags, outputFlags},
	run:    runList,
}

// entryJSON is one row of `list`.
type entryJSON struct {
	Protocol    string     `json:"protocol"`
	External    string     `json:"external"`
	Internal    string     `json:"internal"`
	Method      string     `json:"method"`
	Expires     *time.Time `json:"expires"` // null: permanent
	Description string     `json:"description,omitempty"`
	Enabled     bool       `json:"enabled"`
	Ours        bool       `json:"ours"` // made by upnpmap (in the state file)
	// Family is "ipv6" for a pinhole we made (from the state file: routers
	// cannot list pinholes); empty for an IPv4 mapping.
	Family string `json:"family,omitempty"`
	// Upstream is set on the upstream leg of a mapping we chained through a
	// double NAT (from the state file): the upstream router that holds it,
	// which forwards External to Internal, the router's WAN address.
	Upstream string `json:"upstream,omitempty"`
}

func runList(ctx context.Context, a *app, o *options, _ []string) error {
	st := a.readState()
	ctx, cancel := context.WithTimeout(ctx, o.deadline())
	defer cancel()
	start := time.Now()

	// Only UPnP can read a router's table; PCP and NAT-PMP mappings come
	// from our state file. So ask for UPnP alone, and wait for it, rather
	// than let a quicker PCP answer end the probe before UPnP's is in.
	stop := a.progress(o, "the router's table")
	gw, entries, err := listUPnP(ctx, a, o, st)
	stop()
	var routerErr error // the router could not be read
	switch {
	case errors.Is(err, errNoUPnP) && len(o.methods) > 0:
		// --method leaves UPnP out: nothing to warn about, only to find
		// the router the records are for.
		c := a.newClient(o, st)
		var derr error
		if gw, derr = c.Discover(ctx); derr != nil {
			routerErr = o.netErr("find the gateway", start, derr)
			break
		}
		a.warn("%s cannot read a router's table: showing the mappings upnpmap made (from its state file)",
			strings.Join(o.methodNames(), " and "))
	case errors.Is(err, errNoUPnP):
		// The router may still be there, speaking only PCP or NAT-PMP.
		c := a.newClient(o, st)
		var derr error
		if gw, derr = c.Discover(ctx); derr != nil {
			if errors.Is(err, upnpmap.ErrNoGateway) && !errors.Is(derr, upnpmap.ErrNoGateway) {
				// The UPnP probe used up the time: nothing answered it.
				derr = err
			}
			routerErr = o.netErr("find the gateway", start, derr)
			break
		}
		a.warn("the router does not answer UPnP, so its table cannot be read;\n" +
			"  showing the mappings upnpmap made (from its state file)")
	case err != nil:
		routerErr = o.netErr("list the router's mappings", start, err)
	}
	var ours []stateMapping
	if routerErr != nil {
		// Tunnels through SSH servers do not need the router, and serve
		// exactly where there is none: show them anyway.
		if len(st.sshTunnels()) == 0 {
			return routerErr
		}
		a.warn("%v\n  showing only the tunnels through SSH servers (from the state file)", routerErr)
		gw, entries = &upnpmap.DiscoverResult{}, nil
	} else {
		ours = st.mappingsOn(gw.Gateway)
	}

	now := time.Now()
	var rows []entryJSON
	matched := make([]bool, len(ours))
	for _, e := range entries {
		r := entryJSON{
			Protocol:    string(e.Protocol),
			External:    e.External.String(),
			Internal:    e.Internal.String(),
			Method:      string(e.Method),
			Description: capText(e.Description),
			Enabled:     e.Enabled,
		}
		if m := madeBy(e.Description); m != "" {
			// miniupnpd lists NAT-PMP and PCP mappings in its UPnP table
			// under descriptions of its own.
			r.Method = m
		}
		if e.Lifetime > 0 {
			r.Expires = jsonTime(now.Add(e.Lifetime))
		}
		for i, m := range ours {
			if m.Protocol == r.Protocol && m.External.Port() == e.External.Port() && !m.pinhole() {
				// The router shows every mapping in its UPnP table; say
				// which method made ours.
				r.Ours, matched[i], r.Method = true, true, m.Method
			}
		}
		rows = append(rows, r)
	}
	// PCP and NAT-PMP mappings are not in any table the router shows us.
	for i, m := range ours {
		if matched[i] || (m.Method == string(upnpmap.UPnP) && !m.pinhole()) {
			continue // UPnP lists its table; it cannot list pinholes
		}
		fam := ""
		if m.pinhole() {
			fam = "ipv6"
		}
		rows = append(rows, entryJSON{
			Family:      fam,
			Protocol:    m.Protocol,
			External:    m.External.String(),
			Internal:    m.Internal.String(),
			Method:      m.Method,
			Expires:     jsonTime(m.Expires),
			Description: m.Description,
			Enabled:     true,
			Ours:        true,
		})
	}

	// The upstream legs of the mappings we chained through a double NAT are
	// on the router in front of this one (its table is not read: it may not
	// speak UPnP, and it is not the router asked about).
	for _, m := range ours {
		if up := m.Upstream; up != nil {
			rows = append(rows, entryJSON{Protocol: up.Protocol, External: up.External.String(), Internal: up.Internal.String(),
				Method: up.Method, Expires: jsonTime(up.Expires), Description: m.Description, Enabled: true, Ours: true,
				Upstream: up.Gateway.String()})
		}
	}

	// Tunnels through SSH servers (add/run --via) are on the servers.
	for _, m := range st.sshTunnels() {
		rows = append(rows, entryJSON{Protocol: m.Protocol, External: m.External.String(),
			Internal: m.Internal.String(), Method: m.Method, Description: m.Description, Enabled: true, Ours: true})
	}

	p := &printer{w: a.stdout, json: o.json}
	if o.json {
		for _, r := range rows {
			if err := p.object(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(rows) == 0 {
		p.line("no mappings on %s", gw.Gateway)
		return nil
	}
	table := make([][]string, len(rows))
	for i, r := range rows {
		var exp time.Time
		if r.Expires != nil {
			exp = *r.Expires
		}
		mark := ""
		if r.Ours {
			mark = "yes"
		}
		desc := safetext.Clean(r.Description, safetext.Short)
		if !r.Enabled {
			desc += " (disabled)"
		}
		method := r.Method
		if r.Upstream != "" {
			method += " @" + r.Upstream // the upstream router's leg
		}
		table[i] = []string{r.Protocol, r.External, r.Internal, method, formatExpiry(exp, now), mark, desc}
	}
	return p.table([]string{"PROTO", "EXTERNAL", "INTERNAL", "METHOD", "EXPIRES", "OURS", "DESCRIPTION"}, table)
}

// madeBy recognises the descriptions miniupnpd gives the mappings NAT-PMP
// and PCP made ("NAT-PMP 8080 tcp", "PCP MAP 0a1b…"), and returns that
// method, or "".
func madeBy(description string) string {
	switch {
	case strings.HasPrefix(description, "NAT-PMP "):
		return string(upnpmap.NATPMP)
	case strings.HasPrefix(description, "PCP MAP ") || strings.HasPrefix(description, "PCP PEER "):
		return string(upnpmap.PCP)
	}
	return ""
}

// errNoUPnP: UPnP did not answer (or --method excludes it).
var errNoUPnP = errors.New("no UPnP")

// listUPnP reads the router's table over UPnP.
func listUPnP(ctx context.Context, a *app, o *options, st *state) (*upnpmap.DiscoverResult, []upnpmap.Entry, error) {
	if len(o.methods) > 0 && !slices.Contains(o.methodNames(), string(upnpmap.UPnP)) {
		return nil, nil, errNoUPnP
	}
	c := a.newClient(o, st)
	c.Methods = []upnpmap.Method{upnpmap.UPnP}
	gw, err := c.Discover(ctx)
	if errors.Is(err, upnpmap.ErrNoGateway) {
		return nil, nil, fmt.Errorf("%w: %w", errNoUPnP, err)
	}
	if err != nil {
		return nil, nil, err
	}
	a.rememberGateway(o, gw.Gateway, gw.Location)
	entries, err := c.List(ctx)
	return gw, entries, err
}

// mappingsOn returns the recorded mappings on gateway gw (all of them when gw
// is unknown).
func (s *state) mappingsOn(gw netip.Addr) []stateMapping {
	var out []stateMapping
	for _, m := range s.Mappings {
		if (!gw.IsValid() || m.Gateway == gw) && m.Method != "ssh" { // tunnels: sshTunnels
			out = append(out, m)
		}
	}
	return out
}
