package main

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"time"

	"github.com/upnpmap/upnpmap"
)

// A restarted `run` takes over the mappings its killed predecessor left on
// the router, as the state file records them, instead of asking for them
// again: the external port stays the same, and a PCP router is not asked for
// a second mapping of the port under a new nonce (which it would refuse
// until the first one's lease ran out).

// adoptable finds the state-file record of a live lease for spec's mapping
// of proto; a record of another host's mapping, of a pinhole or an SSH
// tunnel, of a lease that ended, or one a live upnpmap process keeps is not
// one.
func adoptable(st *state, spec mapSpec, proto string, now time.Time) (stateMapping, bool) {
	if st == nil {
		return stateMapping{}, false
	}
	for _, r := range st.Mappings {
		switch {
		case r.Method != "pcp" && r.Method != "natpmp" && r.Method != "upnp", r.pinhole():
		case r.PID != 0 && r.PID != os.Getpid() && isUpnpmapProcess(r.PID):
			// A run that still lives renews it: two renewers, and the first
			// to exit would delete it under the other.
		case r.Protocol != proto || r.External.Port() != spec.ext || r.Internal.Port() != spec.port:
		case spec.host.IsValid() && r.Internal.Addr() != spec.host.Unmap():
		case !spec.host.IsValid() && !isThisMachine(r.Internal.Addr()):
		case r.Expires.IsZero() && r.Method != "upnp": // only UPnP leases are permanent
		case !r.Expires.IsZero() && !r.Expires.After(now):
		default:
			return r, true
		}
	}
	return stateMapping{}, false
}

// adoptRecord turns a state-file record into what Client.Adopt takes,
// with its upstream leg (double NAT), which Adopt takes over too.
func (s *session) adoptRecord(r stateMapping, now time.Time) upnpmap.Record {
	rec := s.adoptLeg(r, now)
	if up := r.Upstream; up != nil {
		u := s.adoptLeg(*up, now)
		rec.Upstream = &u
	}
	return rec
}

// adoptLeg is adoptRecord for one router's leg.
func (s *session) adoptLeg(r stateMapping, now time.Time) upnpmap.Record {
	rec := upnpmap.Record{
		Method:      upnpmap.Method(r.Method),
		Gateway:     r.Gateway,
		Protocol:    upnpProto(r.Protocol),
		Internal:    r.Internal,
		External:    r.External,
		Expires:     r.Expires,
		Requested:   s.o.lifetime,
		Asked:       s.o.lifetime,
		Description: s.o.description,
	}
	if !r.Expires.IsZero() {
		rec.Lifetime = r.Expires.Sub(now)
	}
	if n, err := hex.DecodeString(r.Nonce); err == nil {
		copy(rec.Nonce[:], n) // check() let only 24 hex digits in
	}
	return rec
}

// tryAdopt adopts the recorded mapping for spec, if the state file read at
// the start holds a live one; nil means Map it afresh. A record the router
// no longer holds is the normal case after a long stop and passes silently.
func (s *session) tryAdopt(ctx context.Context, spec mapSpec, proto string) *upnpmap.Mapping {
	now := time.Now()
	r, ok := adoptable(s.adoptFrom, spec, proto, now)
	if !ok {
		return nil
	}
	m, err := s.c.Adopt(ctx, s.adoptRecord(r, now))
	switch {
	case err == nil:
		return m
	case !errors.Is(err, upnpmap.ErrStale):
		s.a.warn("could not take over %s port %d from the last run, mapping it afresh: %v", proto, spec.ext, err)
	}
	return nil
}
