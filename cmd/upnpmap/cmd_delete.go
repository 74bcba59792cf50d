package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/upnpmap/upnpmap"
)

var deleteCmd = &command{
	name:    "delete",
	usage:   "delete EXTPORT [flags]",
	summary: "remove the mapping of EXTPORT",
	about: `Remove the mapping of external port EXTPORT. Mappings upnpmap made are deleted
with the method that made them (PCP needs the nonce upnpmap recorded). Without
a record, upnpmap reads the router's UPnP table and deletes the entry over UPnP
if it is there; a router that does not answer UPnP (or --method natpmp) gets a
NAT-PMP delete of this host's mapping of internal port EXTPORT, which NAT-PMP
answers alike whether or not there was one. PCP mappings without a record end
with their lease. "deleted" is printed only for mappings that existed. Without
--tcp or --udp, the protocols upnpmap recorded are deleted, or else both are
tried.`,
	examples: []string{
		"upnpmap delete 8080",
		"upnpmap delete 27015 --udp",
	},
	flags:   []flagGroup{protoFlags},
	common:  []flagGroup{networkFlags, outputFlags, ipv6Flags, sshFlags},
	minArgs: 1,
	maxArgs: 1,
	run:     runDelete,
}

// deletedJSON is one line of `delete --json`.
type deletedJSON struct {
	Protocol     string `json:"protocol"`
	ExternalPort uint16 `json:"external_port"`
	Method       string `json:"method"`
	Gateway      string `json:"gateway,omitempty"`
	// Result is "deleted", "already-gone" when upnpmap's record named a
	// mapping the router no longer had, or "requested" for a NAT-PMP delete
	// sent without a record (NAT-PMP does not say whether it existed).
	Result string `json:"result"`
	// MadeWith names the method that made a mapping deleted over UPnP,
	// when the router's table says it was another (miniupnpd's "PCP MAP …"
	// and "NAT-PMP …" entries).
	MadeWith string `json:"made_with,omitempty"`
}

// deleteTarget is one protocol's mapping to delete: our record of it when
// there is one.
type deleteTarget struct {
	proto string
	rec   stateMapping
	ours  bool
}

// withoutUnrecorded drops the IPv4 targets upnpmap has no record of when the
// port has a recorded pinhole: a port opened with -6 alone has no IPv4
// mapping, and looking for one without a record would probe the router and
// may send a NAT-PMP delete that removes somebody else's mapping of that
// internal port. With --tcp/--udp only the protocols that have a pinhole
// are dropped; without, every unrecorded one is when no IPv4 record exists.
func withoutUnrecorded(targets, pinholes []deleteTarget, explicit bool) []deleteTarget {
	hasPinhole := map[string]bool{}
	for _, p := range pinholes {
		hasPinhole[p.proto] = true
	}
	anyOurs := false
	for _, tg := range targets {
		anyOurs = anyOurs || tg.ours
	}
	var kept []deleteTarget
	for _, tg := range targets {
		if !tg.ours && (hasPinhole[tg.proto] || (!explicit && !anyOurs)) {
			continue
		}
		kept = append(kept, tg)
	}
	return kept
}

func runDelete(ctx context.Context, a *app, o *options, args []string) error {
	ext, err := parsePort(args[0])
	if err != nil {
		return usagef("EXTPORT: %v", err)
	}
	if o.ssh.via != "" {
		return runDeleteVia(ctx, a, o, ext) // ssh.go
	}
	protos := []string{"tcp", "udp"}
	if o.tcp || o.udp {
		protos = o.protocols()
	}
	st := a.readState()
	ctx, cancel := context.WithTimeout(ctx, o.deadline())
	defer cancel()
	d := &deleter{a: a, o: o, st: st, ext: ext, p: &printer{w: a.stdout, json: o.json}}

	// What to delete: for each protocol, our record of it if there is one
	// (deleted with its own method), else the router's UPnP entry. Without
	// --tcp/--udp, our records decide which protocols; with none, both are
	// tried.
	var targets []deleteTarget
	for _, proto := range protos {
		rec, ok := st.find(o.gatewayAddr(), proto, ext)
		targets = append(targets, deleteTarget{proto, rec, ok})
	}
	explicit := o.tcp || o.udp
	if !explicit {
		var ours []deleteTarget
		for _, tg := range targets {
			if tg.ours {
				ours = append(ours, tg)
			}
		}
		if len(ours) > 0 {
			targets = ours
		}
	}
	// The IPv6 pinholes made with the mappings go too.
	var pinholes []deleteTarget
	for _, proto := range protos {
		if rec, ok := st.findPinhole(o.gatewayAddr(), proto, ext); ok {
			pinholes = append(pinholes, deleteTarget{proto, rec, true})
		}
	}
	if len(pinholes) > 0 {
		targets = append(withoutUnrecorded(targets, pinholes, explicit), pinholes...)
	}

	var deleted int
	var failures []error
	for _, tg := range targets {
		ok, err := d.one(ctx, tg)
		if err != nil {
			failures = append(failures, err)
			if isSilence(err) {
				// The router stopped answering: a second request would
				// only wait as long again (and on miniupnpd, prolong a
				// stall).
				break
			}
			continue
		}
		if ok {
			deleted++
		}
	}
	if len(failures) == 0 {
		return nil
	}
	if mr := sameMissingRecord(failures); mr != nil {
		return mr
	}
	// Without --tcp/--udp both protocols may have been tried: one missing
	// is normal once the other was deleted.
	if deleted > 0 && !explicit {
		for _, err := range failures {
			if !errors.Is(err, upnpmap.ErrNoSuchEntry) {
				return err
			}
		}
		return nil
	}
	if !explicit && len(failures) == len(targets) && len(failures) > 1 {
		none := true
		for _, err := range failures {
			none = none && errors.Is(err, upnpmap.ErrNoSuchEntry) && refusalIn(err) != nil
		}
		if none {
			// Neither protocol is mapped: one message for both.
			return &mapErr{proto: "tcp or udp", ext: ext, err: errors.Join(failures...)}
		}
	}
	return errors.Join(failures...)
}

// deleter holds what the targets of one `delete` share: one UPnP client and
// one read of the router's table, so that both protocols cost one probe.
type deleter struct {
	a   *app
	o   *options
	st  *state
	ext uint16
	p   *printer

	upnp      *upnpmap.Client // for deletes without a record
	table     []upnpmap.Entry
	tableRead bool
	tableErr  error
	warned    bool
	probed    *probeResult // see speaks; nil before
}

// one deletes one target. ok is false when nothing existed to delete (a
// record of a mapping the router had already dropped).
func (d *deleter) one(ctx context.Context, tg deleteTarget) (ok bool, err error) {
	allowed := d.o.methodNames()
	if tg.ours && (len(allowed) == 0 || slices.Contains(allowed, tg.rec.Method)) {
		return d.recorded(ctx, tg)
	}
	if tg.ours {
		// --method excludes the method that made it: do as told, over UPnP
		// if allowed, and say so.
		if !slices.Contains(allowed, string(upnpmap.UPnP)) {
			return false, &missingRecordErr{proto: tg.proto, ext: d.ext, methods: allowed, madeWith: tg.rec.Method}
		}
		d.a.warn("%s port %d was made with %s (upnpmap's record); --method %s: trying a UPnP delete,\n"+
			"  which some routers refuse for a mapping another protocol made", tg.proto, d.ext, tg.rec.Method, strings.Join(allowed, ","))
	} else {
		return d.unrecorded(ctx, tg.proto)
	}
	ok, err = d.viaUPnP(ctx, tg.proto)
	if ok && tg.ours {
		d.forget(tg.rec)
	}
	return ok, err
}

// unrecorded deletes a mapping upnpmap has no record of: by UPnP when the
// router's UPnP table lists it; by NAT-PMP (this host's mapping of internal
// port EXTPORT, the usual shape of `upnpmap add EXTPORT`) when UPnP is not
// allowed or does not answer. PCP needs the record's nonce.
func (d *deleter) unrecorded(ctx context.Context, proto string) (bool, error) {
	allowed := d.o.methodNames()
	upnpOK := len(allowed) == 0 || slices.Contains(allowed, string(upnpmap.UPnP))
	pmpOK := len(allowed) == 0 || slices.Contains(allowed, string(upnpmap.NATPMP))
	if !upnpOK && !pmpOK {
		return false, &missingRecordErr{proto: proto, ext: d.ext, methods: allowed}
	}
	if !d.warned {
		d.warned = true
		switch {
		case !upnpOK:
			d.a.warn("no record of port %d in upnpmap's state file: trying a NAT-PMP delete of this host's internal port %d\n"+
				"  (PCP mappings cannot be deleted without the record; they end with their lease)", d.ext, d.ext)
		case pmpOK:
			d.a.warn("no record of port %d in upnpmap's state file: looking for it in the router's UPnP table,\n"+
				"  trying a NAT-PMP delete of this host's internal port %d if the router does not answer UPnP\n"+
				"  (PCP mappings cannot be deleted without the record; they end with their lease)", d.ext, d.ext)
		default:
			d.a.warn("no record of port %d in upnpmap's state file: looking for it in the router's UPnP table\n"+
				"  (PCP and NAT-PMP mappings cannot be deleted without the record; they end with their lease)", d.ext)
		}
	}
	if upnpOK && pmpOK {
		// Which of the two the router speaks: one probe of both, at once,
		// rather than waiting out a silent UPnP before trying NAT-PMP.
		speaks, err := d.speaks(ctx)
		if err != nil {
			return false, err
		}
		upnpOK = slices.Contains(speaks, upnpmap.UPnP)
	}
	if !upnpOK {
		return d.viaNATPMP(ctx, proto)
	}
	return d.viaUPnP(ctx, proto)
}

// speaks probes the router for UPnP and NAT-PMP (once per delete) and
// returns the methods that answered; the probe is d.upnp's, whose List
// then uses it.
func (d *deleter) speaks(ctx context.Context) ([]upnpmap.Method, error) {
	if d.probed == nil {
		start := time.Now()
		d.upnp = d.a.newClient(d.o, d.st)
		d.upnp.Methods = []upnpmap.Method{upnpmap.UPnP, upnpmap.NATPMP}
		stop := d.a.progress(d.o, "the router")
		res, err := d.upnp.Discover(ctx)
		stop()
		d.probed = &probeResult{}
		if err != nil {
			ne := d.o.netErr(fmt.Sprintf("delete port %d", d.ext), start, err).(*netErr)
			ne.methods = []string{string(upnpmap.UPnP), string(upnpmap.NATPMP)}
			d.probed.err = ne
		} else {
			d.probed.methods = res.Methods
		}
	}
	return d.probed.methods, d.probed.err
}

// probeResult is what deleter.speaks found.
type probeResult struct {
	methods []upnpmap.Method
	err     error
}

// viaNATPMP sends, within ctx (--timeout), the delete a record would have
// named for a NAT-PMP mapping made by `upnpmap add EXTPORT`: Method "" lets
// the library use every method that can delete with what is named, which
// without a nonce is NAT-PMP (internal port EXTPORT of this host). NAT-PMP
// answers success whether or not such a mapping existed, so the result is
// "requested", never "deleted".
func (d *deleter) viaNATPMP(ctx context.Context, proto string) (bool, error) {
	op := fmt.Sprintf("delete %s port %d", proto, d.ext)
	start := time.Now()
	c := d.a.newClient(d.o, d.st)
	c.Methods = []upnpmap.Method{upnpmap.NATPMP}
	stop := d.a.progress(d.o, fmt.Sprintf("the router to delete %s port %d", proto, d.ext))
	err := c.Delete(ctx, upnpmap.DeleteRequest{Protocol: upnpProto(proto), ExternalPort: d.ext, InternalPort: d.ext})
	stop()
	if err != nil {
		ne := d.o.netErr(op, start, err).(*netErr)
		ne.methods = []string{string(upnpmap.NATPMP)}
		return false, &mapErr{proto: proto, ext: d.ext, err: ne}
	}
	gw := netip.Addr{}
	if d.o.gateway != "" {
		gw = d.o.gatewayAddr()
	}
	return false, d.report(proto, upnpmap.NATPMP, "", gw, "requested")
}

// recorded deletes a mapping upnpmap recorded, the way it was made, at the
// gateway it was made on; the upstream router's leg of a mapping chained
// through a double NAT first, so that the Internet loses the port before
// its target goes.
func (d *deleter) recorded(ctx context.Context, tg deleteTarget) (bool, error) {
	if up := tg.rec.Upstream; up != nil {
		if err := d.upstreamLeg(ctx, tg.proto, *up); err != nil {
			d.a.warn("%v", err)
		}
	}
	req := upnpmap.DeleteRequest{
		Protocol:     upnpProto(tg.proto),
		ExternalPort: d.ext,
		Method:       upnpmap.Method(tg.rec.Method),
		InternalPort: tg.rec.Internal.Port(),
		InternalAddr: tg.rec.Internal.Addr(),
	}
	if b, err := hex.DecodeString(tg.rec.Nonce); err == nil && len(b) == 12 {
		copy(req.Nonce[:], b)
	}
	c := d.a.newClient(d.o, d.st)
	c.Gateway = tg.rec.Gateway
	if tg.rec.pinhole() {
		req.PinholeID = tg.rec.PinholeID
		if tg.rec.Location != "" {
			c.Location6 = tg.rec.Location
		}
	}
	start := time.Now()
	stop := d.a.progress(d.o, fmt.Sprintf("the router to delete %s port %d", tg.proto, d.ext))
	err := c.Delete(ctx, req)
	stop()
	gone := errors.Is(err, upnpmap.ErrNoSuchEntry)
	if err == nil || gone {
		// Gone either way: forget it.
		d.forget(tg.rec)
	}
	if err != nil && !gone {
		return false, &mapErr{proto: tg.proto, ext: d.ext,
			err: d.o.netErr(fmt.Sprintf("delete %s port %d", tg.proto, d.ext), start, err)}
	}
	result := "deleted"
	if gone {
		result = "already-gone"
	}
	return !gone, d.report(tg.proto, req.Method, "", tg.rec.Gateway, result)
}

// upstreamLeg deletes the upstream router's leg of a chained mapping. A
// failure is reported with the forward to remove by hand; the home
// router's leg is deleted either way.
func (d *deleter) upstreamLeg(ctx context.Context, proto string, up stateMapping) error {
	req := upnpmap.DeleteRequest{
		Protocol:     upnpProto(proto),
		ExternalPort: up.External.Port(),
		Method:       upnpmap.Method(up.Method),
		InternalPort: up.Internal.Port(),
		InternalAddr: up.Internal.Addr(),
		Via:          up.Internal.Addr(),
	}
	if b, err := hex.DecodeString(up.Nonce); err == nil && len(b) == 12 {
		copy(req.Nonce[:], b)
	}
	c := d.a.newClient(d.o, d.st)
	c.Gateway, c.Location, c.NoChain = up.Gateway, "", true
	c.Methods = []upnpmap.Method{req.Method}
	stop := d.a.progress(d.o, fmt.Sprintf("the upstream router to delete %s port %d", proto, up.External.Port()))
	err := c.Delete(ctx, req)
	stop()
	if err != nil && !errors.Is(err, upnpmap.ErrNoSuchEntry) {
		return fmt.Errorf("the upstream router %v did not delete %s port %d (%s): %w; remove the forward %s %d -> %v on it by hand",
			up.Gateway, proto, up.External.Port(), up.Method, err, proto, up.External.Port(), up.Internal)
	}
	if d.o.json {
		j := deletedJSON{Protocol: proto, ExternalPort: up.External.Port(), Method: up.Method, Gateway: up.Gateway.String(), Result: "deleted"}
		return d.p.object(j)
	}
	d.p.line("deleted %s port %d on the upstream router %v (%s)", proto, up.External.Port(), up.Gateway, up.Method)
	return nil
}

// viaUPnP deletes the router's UPnP entry for proto/ext if its table has
// one, and says that it has none otherwise (UPnP routers such as miniupnpd
// answer success to a delete of nothing, so the table is read first).
func (d *deleter) viaUPnP(ctx context.Context, proto string) (bool, error) {
	op := fmt.Sprintf("delete %s port %d", proto, d.ext)
	start := time.Now()
	netErr := func(err error) error {
		ne := d.o.netErr(op, start, err).(*netErr)
		ne.methods = []string{string(upnpmap.UPnP)}
		return ne
	}
	if d.upnp == nil {
		d.upnp = d.a.newClient(d.o, d.st)
		d.upnp.Methods = []upnpmap.Method{upnpmap.UPnP}
	}
	if !d.tableRead {
		d.tableRead = true
		stop := d.a.progress(d.o, "the router's UPnP table")
		d.table, d.tableErr = d.upnp.List(ctx)
		stop()
	}
	var listed *upnpmap.Entry
	switch {
	case d.tableErr != nil && refusalIn(d.tableErr) == nil:
		// No answer: the delete would wait as long again.
		return false, &mapErr{proto: proto, ext: d.ext, err: netErr(d.tableErr)}
	case d.tableErr == nil:
		for i, e := range d.table {
			if strings.EqualFold(string(e.Protocol), proto) && e.External.Port() == d.ext {
				listed = &d.table[i]
			}
		}
		if listed == nil {
			return false, &mapErr{proto: proto, ext: d.ext, err: netErr(
				fmt.Errorf("%w: the router's UPnP table has no %s mapping of port %d", upnpmap.ErrNoSuchEntry, proto, d.ext))}
		}
	}
	// A router that cannot list its table: delete all the same (its answer
	// says whether there was an entry).
	err := d.upnp.Delete(ctx, upnpmap.DeleteRequest{Protocol: upnpProto(proto), ExternalPort: d.ext, Method: upnpmap.UPnP})
	if err != nil {
		return false, &mapErr{proto: proto, ext: d.ext, err: netErr(err)}
	}
	made := ""
	if listed != nil {
		made = madeBy(listed.Description)
	}
	gw := netip.Addr{}
	if d.o.gateway != "" {
		gw = d.o.gatewayAddr()
	}
	return true, d.report(proto, upnpmap.UPnP, made, gw, "deleted")
}

// report prints one deleted (or already gone) mapping: method is the one
// that deleted it, made the one the router's table says made it, if
// another.
func (d *deleter) report(proto string, method upnpmap.Method, made string, gw netip.Addr, result string) error {
	j := deletedJSON{Protocol: proto, ExternalPort: d.ext, Method: string(method), Result: result}
	if made != "" && made != string(method) {
		j.MadeWith = made
	}
	if gw.IsValid() {
		j.Gateway = gw.String()
	}
	if d.o.json {
		return d.p.object(j)
	}
	if result == "requested" {
		d.p.line("asked the router over NAT-PMP to delete this host's %s mapping of internal port %d (NAT-PMP does not say whether there was one)", proto, d.ext)
		return nil
	}
	if result == "already-gone" {
		d.p.line("%s port %d was already gone from the router (%s); upnpmap's record of it is removed", proto, d.ext, method)
		return nil
	}
	if j.MadeWith != "" {
		d.p.line("deleted %s port %d (%s; made with %s)", proto, d.ext, method, j.MadeWith)
		return nil
	}
	d.p.line("deleted %s port %d (%s)", proto, d.ext, method)
	return nil
}

// forget removes rec from the state file.
func (d *deleter) forget(rec stateMapping) {
	if err := d.a.updateState(func(s *state) { s.remove(rec.sameSlot) }); err != nil {
		d.a.warn("state file: %v", err)
	}
}

// sameMissingRecord merges "no record" failures of both protocols into one
// message; nil unless every failure is one.
func sameMissingRecord(failures []error) *missingRecordErr {
	var first *missingRecordErr
	for _, err := range failures {
		mr, ok := err.(*missingRecordErr)
		if !ok || (first != nil && mr.madeWith != first.madeWith) {
			return nil
		}
		if first == nil {
			c := *mr
			first = &c
		} else {
			first.proto += "/" + mr.proto
		}
	}
	return first
}

// isSilence reports a failure that is the router not answering.
func isSilence(err error) bool {
	c, _ := classify(err)
	return c == classTimeout || c == classNoGateway
}

// missingRecordErr: a delete that cannot be sent, because the methods
// allowed (--method) need upnpmap's record of the mapping and there is none
// (or the record names a method --method excludes). Nothing was sent.
type missingRecordErr struct {
	proto    string
	ext      uint16
	methods  []string
	madeWith string // the recorded method, when --method excludes it
}

func (e *missingRecordErr) Error() string {
	if e.madeWith != "" {
		return fmt.Sprintf("%s port %d was made with %s, which --method %s excludes", e.proto, e.ext, e.madeWith, strings.Join(e.methods, ","))
	}
	return fmt.Sprintf("no record of %s port %d in upnpmap's state file; --method %s cannot delete without one",
		e.proto, e.ext, strings.Join(e.methods, ","))
}

func (e *missingRecordErr) what() string {
	if e.madeWith != "" {
		return fmt.Sprintf("%s port %d was made with %s, and --method %s excludes it: nothing was sent",
			e.proto, e.ext, e.madeWith, strings.Join(e.methods, ","))
	}
	return fmt.Sprintf("upnpmap has no record of %s port %d, and --method %s cannot delete without one: nothing was sent",
		e.proto, e.ext, strings.Join(e.methods, ","))
}

func (e *missingRecordErr) fix() []string {
	if e.madeWith != "" {
		return []string{fmt.Sprintf("run `upnpmap delete %d` without --method (or with --method %s).", e.ext, e.madeWith)}
	}
	return []string{
		"PCP deletes need the nonce of the request that made the mapping, which was in the record.",
		"The mapping ends when its lease runs out, or try",
		fmt.Sprintf("`upnpmap delete %d --method upnp` if the router lists it (`upnpmap list`).", e.ext),
	}
}

// find returns the recorded mapping of proto/ext, on gateway gw when given.
func (s *state) find(gw netip.Addr, proto string, ext uint16) (stateMapping, bool) {
	for i := len(s.Mappings) - 1; i >= 0; i-- {
		m := s.Mappings[i]
		if m.Protocol == proto && m.External.Port() == ext && (!gw.IsValid() || m.Gateway == gw) && !m.pinhole() && m.Method != "ssh" {
			return m, true
		}
	}
	return stateMapping{}, false
}

// findPinhole is find for the IPv6 pinhole recorded for the port.
func (s *state) findPinhole(gw netip.Addr, proto string, ext uint16) (stateMapping, bool) {
	for i := len(s.Mappings) - 1; i >= 0; i-- {
		m := s.Mappings[i]
		if m.Protocol == proto && m.External.Port() == ext && (!gw.IsValid() || m.Gateway == gw) && m.pinhole() {
			return m, true
		}
	}
	return stateMapping{}, false
}
