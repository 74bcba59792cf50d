package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/internal/safetext"
	"github.com/upnpmap/upnpmap/relay"
)

// session keeps mappings and relays alive until its context ends, printing
// what happens to them; then it deletes the mappings and drains the relays.
// `run` and `add --relay` are sessions.
type session struct {
	a *app
	o *options
	p *printer
	c *upnpmap.Client // made by the first addMapping; relays need none
	// adoptFrom is the state `run` started with: its live records are
	// adopted rather than mapped again (run_adopt.go); nil for the others.
	adoptFrom *state

	maps   []*liveMapping
	relays []*liveRelay

	events chan mappingEvent // from the forwardEvents goroutines
	stop   chan struct{}     // closed at shutdown: forwarders return
	wg     sync.WaitGroup    // forwarders
}

type liveMapping struct {
	m    *upnpmap.Mapping
	view mappingJSON
	rec  stateMapping
}

type liveRelay struct {
	r    *relay.Relay
	spec relaySpec
	addr string // where it listens, once started
}

type mappingEvent struct {
	lm *liveMapping
	ev upnpmap.Event
}

func newSession(a *app, o *options) *session {
	return &session{
		a:      a,
		o:      o,
		p:      &printer{w: a.stdout, json: o.json},
		events: make(chan mappingEvent),
		stop:   make(chan struct{}),
	}
}

// startRelay binds and starts a relay. Relays get their own context: at
// shutdown the mappings go first (no new traffic arrives from outside), then
// the relays drain.
func (s *session) startRelay(spec relaySpec) (*liveRelay, error) {
	return s.startRelayWith(spec, nil)
}

// startRelayWith is startRelay with a hook that sets inherited sockets.
func (s *session) startRelayWith(spec relaySpec, setup func(*relay.Relay)) (*liveRelay, error) {
	r := s.o.newRelay(spec)
	if setup != nil {
		setup(r)
	}
	if err := r.Start(context.Background()); err != nil {
		return nil, fmt.Errorf("relay %s %s -> %s: %w", spec.proto, spec.listen, spec.target, err)
	}
	lr := &liveRelay{r: r, spec: spec, addr: spec.listen}
	if addrs := r.Addrs(); len(addrs) > 0 {
		lr.addr = addrs[0].String()
	}
	s.relays = append(s.relays, lr)
	return lr, nil
}

// relayPort is the port a started relay listens on.
func (lr *liveRelay) relayPort() uint16 {
	ap, err := netip.ParseAddrPort(lr.addr)
	if err != nil {
		_, p, _ := net.SplitHostPort(lr.addr)
		port, _ := parsePort(p)
		return port
	}
	return ap.Port()
}

// addMapping creates a mapping that the library renews until Close, records
// it in the state file (so that a crashed run can be cleaned up with
// `upnpmap delete`), and starts forwarding its events.
func (s *session) addMapping(ctx context.Context, spec mapSpec, proto, relayTo string) error {
	req := upnpmap.Request{
		Protocol:     upnpProto(proto),
		InternalPort: spec.port,
		ExternalPort: spec.ext,
		ExactPort:    true,
		InternalAddr: spec.host,
		Description:  s.o.description,
		Lifetime:     s.o.lifetime,
		Family:       s.o.family(),
	}
	if s.c == nil {
		// One client for all mappings: it probes the gateway once and
		// serialises the requests to it.
		s.c = s.a.newClient(s.o, s.a.readState())
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.mapDeadline()) // ssh.go
	defer cancel()
	start := time.Now()
	stop := s.a.progress(s.o, "the router to map "+proto+" port "+itoa(spec.ext))
	m := s.tryAdopt(ctx, spec, proto)
	var err error
	if m == nil {
		m, err = s.c.Map(ctx, req)
	}
	stop()
	if err != nil {
		other := spec.host.IsValid() && !isThisMachine(spec.host)
		return &mapErr{proto: proto, ext: spec.ext, host: spec.host, port: spec.port, otherHost: other,
			err: s.o.netErr("map "+proto+" port "+itoa(spec.ext), start, err)}
	}
	if m.Family() == upnpmap.IPv4 {
		s.a.rememberGateway(s.o, m.Gateway(), m.Location())
	}
	// The IPv6 pinhole made with the mapping is kept, shown and recorded
	// as a mapping of its own (Close of m closes it too).
	for _, m := range []*upnpmap.Mapping{m, m.Pinhole()} {
		if m != nil {
			s.keep(m, proto, relayTo)
		}
	}
	return nil
}

// keep records m, shows it and forwards its events.
func (s *session) keep(m *upnpmap.Mapping, proto, relayTo string) {
	lm := &liveMapping{m: m, view: mappingView(m, s.o.description)}
	lm.view.Pinhole = nil // a row of its own
	lm.view.Relay = relayTo
	lm.rec = stateMapping{
		Gateway:     m.Gateway(),
		Method:      string(m.Method()),
		Protocol:    proto,
		External:    innerExternal(m),
		Internal:    m.Internal(),
		Description: s.o.description,
		Expires:     m.Expires(),
		Created:     time.Now().UTC().Truncate(time.Second),
	}
	if m.Method() == upnpmap.PCP {
		n := m.Nonce()
		lm.rec.Nonce = hex.EncodeToString(n[:])
	}
	if m.Family() == upnpmap.IPv6 {
		lm.rec.PinholeID, lm.rec.Location = m.DeleteRequest().PinholeID, m.Location()
	}
	lm.rec.Upstream = upstreamRecord(m, proto, lm.rec.Created) // double NAT
	// The mapping lives in this process: an SSH tunnel dies with it (ssh.go),
	// and a restarted run must not adopt what a live one renews (run_adopt.go).
	lm.rec.PID = os.Getpid()
	s.maps = append(s.maps, lm)
	s.record(lm)
	s.wg.Add(1)
	go s.forwardEvents(lm)
}

// record writes lm to the state file; failing costs only crash cleanup.
func (s *session) record(lm *liveMapping) {
	if err := s.a.updateState(func(st *state) { st.put(lm.rec) }); err != nil && s.o.verbose {
		s.a.warn("state file: %v", err)
	}
}

// forwardEvents moves one mapping's events to the session loop until the
// mapping's channel closes or the session stops.
func (s *session) forwardEvents(lm *liveMapping) {
	defer s.wg.Done()
	for {
		select {
		case ev, ok := <-lm.m.Events():
			if !ok {
				return
			}
			select {
			case s.events <- mappingEvent{lm, ev}:
			case <-s.stop:
				return
			}
		case <-s.stop:
			return
		}
	}
}

// printStarted shows what the session keeps alive.
func (s *session) printStarted() error {
	now := time.Now()
	if s.o.json {
		for _, lr := range s.relays {
			if err := s.p.object(s.startedJSON(lr)); err != nil {
				return err
			}
		}
		for _, lm := range s.maps {
			v := lm.view
			v.Event = "mapped"
			if err := s.p.object(v); err != nil {
				return err
			}
		}
		return nil
	}
	if len(s.maps) > 0 {
		rows := make([][]string, len(s.maps))
		rows = rows[:0]
		for _, lm := range s.maps {
			rows = append(rows, lm.view.rows(now)...)
		}
		if err := s.p.table(mappingHeader, rows); err != nil {
			return err
		}
	}
	for _, lr := range s.relays {
		s.printRelayStarted(lr)
	}
	if len(s.maps) > 0 {
		s.p.line("Keeping them alive; Ctrl-C or SIGTERM deletes the mappings and stops.")
	} else {
		s.p.line("Ctrl-C or SIGTERM stops.")
	}
	for _, lm := range s.maps {
		if err := lm.m.UpstreamErr(); err != nil {
			s.a.warn("%s port %d: %s", lm.view.Protocol, lm.rec.External.Port(), safetext.Clean(err.Error(), safetext.Long))
			break
		}
		if isPrivateExternal(lm.m.External().Addr()) {
			s.a.warn("%s", privateNotice(lm.m.External().Addr()))
			break
		}
	}
	return nil
}

// views returns what the session shows of its mappings.
func (s *session) views() []mappingJSON {
	out := make([]mappingJSON, len(s.maps))
	for i, lm := range s.maps {
		out[i] = lm.view
	}
	return out
}

// wait prints events until ctx ends, then shuts down.
func (s *session) wait(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return s.shutdown()
		case me := <-s.events:
			s.printEvent(me)
		}
	}
}

func (s *session) printEvent(me mappingEvent) {
	ev, lm := me.ev, me.lm
	if ev.Leg > 0 {
		s.printUpstreamEvent(lm, ev)
		return
	}
	if ev.External.IsValid() && ev.External != lm.rec.External {
		lm.rec.External = ev.External
		lm.view.External = ev.External.String()
		if lm.rec.pinhole() {
			// A pinhole's address is the host's: a new prefix moves both.
			lm.rec.Internal, lm.view.Internal = ev.External, ev.External.String()
		}
	}
	if ev.Kind == upnpmap.Renewed || ev.Kind == upnpmap.Restored || ev.Kind == upnpmap.Healed {
		lm.rec.Expires = ev.Expires
		lm.view.Expires = jsonTime(ev.Expires)
	}
	switch ev.Kind {
	case upnpmap.Renewed, upnpmap.ExternalAddressChanged, upnpmap.Restored, upnpmap.Healed:
		// Keep the record current, so that after a crash `upnpmap
		// delete` finds the mapping for as long as it can exist.
		s.record(lm)
	}
	v := lm.view
	v.Event = ev.Kind.String()
	if ev.Err != nil {
		// The error may quote the router (a fault description).
		v.Error = safetext.Clean(ev.Err.Error(), safetext.Long)
	}
	if s.o.json {
		_ = s.p.object(v)
		return
	}
	when := ev.Time
	if when.IsZero() {
		when = time.Now()
	}
	line := fmt.Sprintf("%s %-9s %s %s -> %s (%s", when.Local().Format("15:04:05"), v.Event, v.Protocol, v.External, v.Internal, v.Method)
	if v.Expires != nil {
		line += ", expires " + v.Expires.Local().Format("15:04:05")
	}
	line += ")"
	if v.Error != "" {
		line += ": " + v.Error
	}
	s.p.line("%s", line)
}

// shutdown deletes the mappings (each bounded by the client's CloseTimeout),
// then drains the relays. It returns the first failure to delete, so that a
// mapping left behind shows in the exit code.
func (s *session) shutdown() error {
	close(s.stop)
	var errs []error
	for _, lm := range s.maps {
		err := lm.m.Close()
		v := lm.view
		v.Event = "deleted"
		if err != nil {
			v.Event = "delete-failed"
			v.Error = safetext.Clean(err.Error(), safetext.Long)
			errs = append(errs, fmt.Errorf("delete %s port %d: %w", v.Protocol, lm.rec.External.Port(), err))
		} else if uerr := s.a.updateState(func(st *state) { st.remove(lm.rec.sameSlot) }); uerr != nil && s.o.verbose {
			s.a.warn("state file: %v", uerr)
		}
		if s.o.json {
			_ = s.p.object(v)
		} else if err != nil {
			s.p.line("could not delete %s %s: %s", v.Protocol, v.External, v.Error)
		} else {
			s.p.line("deleted %s %s", v.Protocol, v.External)
		}
	}
	for _, lr := range s.relays {
		if err := lr.r.Close(); err != nil {
			errs = append(errs, err)
		}
		st := lr.r.Stats()
		if s.o.json {
			_ = s.p.object(relayStatsJSON(lr, st))
		} else {
			s.p.line("relay %s %s stopped: %s", lr.spec.proto, lr.addr, statsLine(lr.spec.proto, st))
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// abort undoes a session that failed to start: whatever was created goes.
func (s *session) abort() {
	_ = s.shutdown()
}

// printUpstreamEvent shows an event of the upstream leg of a mapping
// chained through a double NAT. The record (the gateway's leg) stays as it
// is; the view's legs follow the library's.
func (s *session) printUpstreamEvent(lm *liveMapping, ev upnpmap.Event) {
	fresh := mappingView(lm.m, s.o.description)
	lm.view.Legs, lm.view.UpstreamError = fresh.Legs, fresh.UpstreamError
	switch ev.Kind {
	case upnpmap.Renewed, upnpmap.ExternalAddressChanged, upnpmap.Restored, upnpmap.Failed:
		// Keep the record of the upstream leg current for `delete`.
		lm.rec.Upstream = upstreamRecord(lm.m, lm.rec.Protocol, lm.rec.Created)
		s.record(lm)
	}
	v := lm.view
	v.Event = ev.Kind.String()
	v.External = ev.External.String()
	v.Expires = jsonTime(ev.Expires)
	if ev.Err != nil {
		v.Error = safetext.Clean(ev.Err.Error(), safetext.Long)
	}
	if s.o.json {
		_ = s.p.object(v)
		return
	}
	when := ev.Time
	if when.IsZero() {
		when = time.Now()
	}
	line := fmt.Sprintf("%s %-9s %s %s (upstream router", when.Local().Format("15:04:05"), v.Event, v.Protocol, v.External)
	if v.Expires != nil {
		line += ", expires " + v.Expires.Local().Format("15:04:05")
	}
	line += ")"
	if v.Error != "" {
		line += ": " + v.Error
	}
	s.p.line("%s", line)
}
