package upnpmap

import (
	"context"
	"fmt"
)

// stale finds the UPnP entries this host left behind (its address, our
// description, held by no live mapping of the Client and no Recorded
// entry, and nothing of this machine on the internal port: a program that
// still runs, e.g. another process's `upnpmap run`, keeps its service
// listening, and its mapping is not touched) and the recorded UPnP mappings the router no longer lists; with
// Cleanup it deletes the former. PCP and NAT-PMP keep no table a client can
// read, so their records are not checked.
func (d *diagnosis) stale(ctx context.Context) {
	if d.upnp == nil {
		return
	}
	entries, err := d.c.List(ctx)
	if err != nil {
		d.add(Finding{Code: "LIST_FAILED", Severity: SeverityWarning,
			What: "cannot read the router's UPnP table: " + errText(err),
			Fix:  "run again; if it persists, the router's UPnP table may be too big or broken"})
		return
	}
	recorded := func(e Entry) bool {
		for _, rm := range d.o.Recorded {
			if d.forThis(rm) && rm.Method == UPnP && rm.Protocol == e.Protocol && rm.External.Port() == e.External.Port() {
				return true
			}
		}
		return false
	}
	for _, e := range entries {
		if e.Method != UPnP || e.Ours || e.Internal.Addr() != d.r.Local || e.Description != d.o.Description || recorded(e) {
			continue
		}
		if d.served(ctx, e) {
			continue
		}
		d.r.Stale = append(d.r.Stale, StaleMapping{Kind: StaleLeftBehind, Method: UPnP, Protocol: e.Protocol,
			External: e.External, Internal: e.Internal, Description: e.Description})
	}
	for _, rm := range d.o.Recorded {
		if !d.forThis(rm) || rm.Method != UPnP || d.listed(entries, rm) {
			continue
		}
		d.r.Stale = append(d.r.Stale, StaleMapping{Kind: StaleGone, Method: UPnP, Protocol: rm.Protocol,
			External: rm.External, Internal: rm.Internal})
	}
	if d.o.Cleanup {
		d.cleanup(ctx)
	}
	d.staleFindings()
}

// forThis reports whether rm is a record for the gateway diagnosed.
func (d *diagnosis) forThis(rm RecordedMapping) bool {
	return !rm.Gateway.IsValid() || rm.Gateway.Unmap() == d.r.Gateway
}

// served reports whether something of this machine listens on e's
// internal port (see diagnosis.listening for what that can see).
func (d *diagnosis) served(ctx context.Context, e Entry) bool {
	if e.Protocol == UDP {
		return udpHeld(e.Internal)
	}
	return tcpAccepts(ctx, e.Internal)
}

// listed reports whether the router lists the recorded mapping rm.
func (d *diagnosis) listed(entries []Entry, rm RecordedMapping) bool {
	for _, e := range entries {
		if e.Method == UPnP && e.Protocol == rm.Protocol && e.External.Port() == rm.External.Port() {
			return true
		}
	}
	return false
}

// cleanup deletes the entries left behind.
func (d *diagnosis) cleanup(ctx context.Context) {
	for i := range d.r.Stale {
		s := &d.r.Stale[i]
		if s.Kind != StaleLeftBehind {
			continue
		}
		err := d.c.Delete(ctx, DeleteRequest{Method: UPnP, Protocol: s.Protocol, ExternalPort: s.External.Port()})
		if err != nil {
			s.Error = errText(err)
			continue
		}
		s.Removed = true
	}
}

// staleFindings says what was found and what is left to do.
func (d *diagnosis) staleFindings() {
	left, removed, gone := 0, 0, 0
	for _, s := range d.r.Stale {
		switch {
		case s.Kind == StaleGone:
			gone++
		case s.Removed:
			removed++
		default:
			left++
		}
	}
	if left > 0 {
		d.add(Finding{Code: "STALE_MAPPINGS", Severity: SeverityWarning,
			What: fmt.Sprintf("%d UPnP mapping(s) for this host with description %q that nothing holds (left by a program that was killed?)", left, d.o.Description),
			Fix:  "remove them with upnpmap doctor --cleanup (DiagnoseOptions.Cleanup); they may hold the port you want"})
	}
	if removed > 0 {
		d.add(Finding{Code: "STALE_REMOVED", Severity: SeverityInfo,
			What: fmt.Sprintf("removed %d UPnP mapping(s) left behind", removed)})
	}
	if gone > 0 {
		d.add(Finding{Code: "RECORDED_GONE", Severity: SeverityWarning,
			What: fmt.Sprintf("%d recorded UPnP mapping(s) are no longer on the router (it rebooted or purged its table?)", gone),
			Fix:  "map them again (upnpmap add), or drop the records with upnpmap doctor --cleanup"})
	}
}
