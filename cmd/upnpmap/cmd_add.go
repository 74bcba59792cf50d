package main

import (
	"context"
	"encoding/hex"
	"net/netip"
	"time"

	"github.com/spf13/pflag"
	"github.com/upnpmap/upnpmap"
)

var addCmd = &command{
	name:    "add",
	usage:   "add EXTPORT [HOST:]PORT [flags]",
	summary: "map EXTPORT to PORT here or on HOST",
	about: `Map EXTPORT on the router to PORT here (default EXTPORT) or on HOST, another
machine on the LAN, for --lifetime ('upnpmap delete EXTPORT' removes it sooner).
Routers that map only to the asker refuse another HOST: --relay maps here and
relays to HOST:PORT until Ctrl-C. --check: exit 6 when not reachable.`,
	examples: []string{
		"upnpmap add 8080",
		"upnpmap add 80 8080 --lifetime 1h --tcp --udp",
		"upnpmap add 80 192.168.1.4:80 --relay",
	},
	flags:   []flagGroup{protoFlags, leaseFlags, relayFlag, addCheckFlag},
	common:  []flagGroup{outputFlags, familyFlags, relayFlags, networkFlags, chainFlags, ipv6Flags, sshFlags},
	minArgs: 1,
	maxArgs: 2,
	run:     runAdd,
}

func relayFlag(fs *pflag.FlagSet, o *options) {
	fs.BoolVar(&o.relay, "relay", false, "map here and relay to HOST:PORT, in the foreground")
}

func runAdd(ctx context.Context, a *app, o *options, args []string) error {
	ext, err := parsePort(args[0])
	if err != nil {
		return usagef("EXTPORT: %v", err)
	}
	spec := mapSpec{protos: o.protocols(), ext: ext, port: ext}
	if len(args) == 2 {
		if spec.host, spec.port, err = parseTarget(args[1]); err != nil {
			return usagef("%v", err)
		}
	}
	other := spec.host.IsValid() && !isThisMachine(spec.host)
	if err := o.relayFlagsApply(o.relay); err != nil {
		return err
	}
	if o.relay {
		if !spec.host.IsValid() {
			return usagef("--relay needs the HOST:PORT to relay to, e.g. 192.168.1.4:%d", spec.port)
		}
		// HOST may also be this machine: relaying to 127.0.0.1:PORT opens a
		// server that listens on loopback only.
		return runAddRelay(ctx, a, o, spec)
	}
	if o.ssh.via != "" {
		// A tunnel lives only while this process does (ssh.go).
		return runAddVia(ctx, a, o, spec)
	}

	o.checkAnswer = true
	c := a.newClient(o, a.stateForClient(o))
	ctx, cancel := context.WithTimeout(ctx, o.deadline())
	defer cancel()
	p := &printer{w: a.stdout, json: o.json}
	var views []mappingJSON
	var records []func(*state) // for the state file, see recordAdded
	var firstErr error
	for _, proto := range spec.protos {
		stop := a.progress(o, "the router to map "+proto+" port "+itoa(spec.ext))
		v, err := addOne(ctx, a, o, c, spec, proto, other, &records)
		stop()
		if err != nil {
			// With --tcp --udp, one protocol may fail and the other not:
			// report both, exit with the failure.
			if firstErr == nil {
				firstErr = err
			}
			if isSilence(err) {
				// A router that stopped answering would make the next
				// request wait as long (and miniupnpd, stalled on a
				// denied port, stall again).
				break
			}
			continue
		}
		views = append(views, v)
		if o.json {
			if err := p.object(v); err != nil {
				return err
			}
		}
	}
	if !o.json && len(views) > 0 {
		now := time.Now()
		var rows [][]string
		for _, v := range views {
			rows = append(rows, v.rows(now)...)
			if v.Pinhole != nil {
				rows = append(rows, v.Pinhole.row(now))
			}
		}
		if err := p.table(mappingHeader, rows); err != nil {
			return err
		}
		p.line("%s", deleteHint(views, spec.ext, protoFlagsFor(spec.protos)))
		for _, v := range views {
			if v.Check != nil {
				p.line("%s", checkLine(v))
			}
		}
	}
	// The state file after the output: its flushed write takes longer than
	// anything else here but the router's answer, and the mappings are made
	// whether or not it succeeds.
	recordAdded(a, records)
	for _, v := range views {
		warnNotListening(a, v.Protocol, spec.port, !other)
	}
	warnDescription(a, o, views)
	warnLifetime(a, o, views, time.Now())
	warnOtherFamily(a, views)
	for _, v := range views {
		if v.UpstreamError != "" {
			a.warn("%s port %d: %s", v.Protocol, spec.ext, v.UpstreamError)
			break
		}
		if ap, err := netip.ParseAddrPort(v.External); err == nil && isPrivateExternal(ap.Addr()) {
			a.warn("%s", privateNotice(ap.Addr()))
			break
		}
	}
	if firstErr != nil {
		return firstErr
	}
	return checkExit(views)
}

// warnOtherFamily says which family is missing from a partial success.
func warnOtherFamily(a *app, views []mappingJSON) {
	for _, v := range views {
		switch {
		case v.OtherFamilyError == "":
		case v.Family == "ipv6":
			a.warn("%s port %s: only the IPv6 pinhole is open; the IPv4 mapping failed: %s", v.Protocol, v.External, v.OtherFamilyError)
		default:
			a.warn("%s port %s: no IPv6 pinhole: %s", v.Protocol, v.External, v.OtherFamilyError)
		}
	}
}

// warnDescription says when --description could not be honoured: PCP and
// NAT-PMP requests carry no description (miniupnpd labels such mappings
// "PCP MAP …" or "NAT-PMP …"). upnpmap keeps it in its state file for
// `list`.
func warnDescription(a *app, o *options, views []mappingJSON) {
	if !o.descriptionSet {
		return
	}
	for _, v := range views {
		if v.Method == string(upnpmap.PCP) || v.Method == string(upnpmap.NATPMP) {
			a.warn("--description %q is not sent: %s has no description field (the router shows its own label);\n"+
				"  upnpmap keeps it in its state file, and `upnpmap list` shows it. --method upnp sends it.",
				o.description, v.Method)
			return
		}
	}
}

// lifetimeSlack is how far a granted lease may be from --lifetime before add
// says so: the protocols count whole seconds, and time passes between the
// answer and the check.
const lifetimeSlack = 10 * time.Second

// warnLifetime says when the router granted another lease than --lifetime
// asked for (PCP servers clamp it, miniupnpd to 120 s … 24 h; a router with
// permanent leases only grants none).
func warnLifetime(a *app, o *options, views []mappingJSON, now time.Time) {
	for _, v := range views {
		if v.Expires == nil {
			continue // permanent: deleteHint says so
		}
		// Expires is cut to whole seconds for output: add back the second
		// it may have lost.
		granted := (v.Expires.Sub(now) + time.Second).Truncate(time.Second)
		if d := granted - o.lifetime; d > lifetimeSlack || d < -lifetimeSlack {
			a.warn("the router granted %s port %s a lease of %v, not the %v --lifetime asked for", v.Protocol, v.External, granted, o.lifetime)
			return
		}
	}
}

// addOne creates one mapping that outlives this process (no renewal), and
// adds to records what the state file must learn of it (see recordAdded),
// so that `delete` and `list` know of it.
func addOne(ctx context.Context, a *app, o *options, c *upnpmap.Client, spec mapSpec, proto string, other bool, records *[]func(*state)) (mappingJSON, error) {
	req := upnpmap.Request{
		Protocol:     upnpProto(proto),
		InternalPort: spec.port,
		ExternalPort: spec.ext,
		ExactPort:    true,
		InternalAddr: spec.host,
		Description:  o.description,
		Lifetime:     o.lifetime,
		Family:       o.family(),
	}
	start := time.Now()
	m, err := c.Map(ctx, req)
	if err != nil {
		return mappingJSON{}, &mapErr{proto: proto, ext: spec.ext, host: spec.host, port: spec.port, otherHost: other,
			err: o.netErr("map "+proto+" port "+itoa(spec.ext), start, err)}
	}
	var chk *verifyJSON
	if o.checker != "" {
		chk = verifyAdded(ctx, a, o, m) // before Detach: it may re-create the mapping
	}
	// One-shot: leave the mapping on the router for its lease, no renewal.
	m.Detach()
	v := mappingView(m, o.description)
	v.Check = chk
	if gw, loc := m.Gateway(), m.Location(); m.Family() == upnpmap.IPv4 && loc != "" {
		// For the next run's warm start (see rememberGateway).
		*records = append(*records, func(s *state) { s.setLocation(o.gatewayKey(), gw, loc, time.Now()) })
	}
	for _, m := range []*upnpmap.Mapping{m, m.Pinhole()} {
		if m == nil {
			continue
		}
		rec := stateMapping{
			Gateway:     m.Gateway(),
			Method:      string(m.Method()),
			Protocol:    proto,
			External:    innerExternal(m),
			Internal:    m.Internal(),
			Description: o.description,
			Expires:     m.Expires(),
			Created:     time.Now().UTC().Truncate(time.Second),
		}
		if m.Method() == upnpmap.PCP {
			n := m.Nonce()
			rec.Nonce = hex.EncodeToString(n[:])
		}
		rec.Upstream = upstreamRecord(m, proto, rec.Created) // double NAT
		if m.Family() == upnpmap.IPv6 {
			rec.PinholeID, rec.Location = m.DeleteRequest().PinholeID, m.Location()
		}
		*records = append(*records, func(s *state) { s.put(rec) })
	}
	return v, nil
}

// recordAdded applies the changes add gathered (see addOne) to the state
// file in one update, since each update is a lock, a read and a flushed
// write: both protocols of --tcp --udp, their pinholes and the gateway's
// description URL together.
func recordAdded(a *app, records []func(*state)) {
	if len(records) == 0 {
		return
	}
	err := a.updateState(func(s *state) {
		for _, change := range records {
			change(s)
		}
	})
	if err != nil {
		a.warn("the mapping is made, but the state file could not be written (%v):\n"+
			"  `upnpmap delete` may not be able to remove it before it expires", err)
	}
}
