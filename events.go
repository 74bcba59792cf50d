package upnpmap

import (
	"fmt"
	"net/netip"
	"time"
)

// EventKind says what happened to a mapping.
type EventKind int

const (
	// Renewed: the lease was extended on schedule (or after an announcement
	// from the gateway). Event.Expires is the new expiry.
	Renewed EventKind = iota + 1
	// ExternalAddressChanged: the mapping's external address or port is now
	// Event.External, e.g. because the gateway's uplink got a new address or
	// the mapping had to move to another port when it was restored. Whoever
	// advertised the old address should advertise the new one.
	ExternalAddressChanged
	// Lost: the mapping is known to be gone from the gateway (the gateway
	// rebooted or lost its state, the UPnP entry vanished, or every renewal
	// failed until the lease ran out). The Mapping keeps trying to restore it;
	// Event.Err says why, where known.
	Lost
	// Restored: the mapping exists again after Lost. Check Event.External:
	// when it differs, an ExternalAddressChanged event follows.
	Restored
	// Failed: one renewal, restoration or check failed (Event.Err). The
	// Mapping keeps trying: before expiry on the renewal schedule, after it
	// with a growing backoff (at most maxBackoff).
	Failed
	// Unstable: the gateway keeps losing its state — epoch resets (or
	// vanished entries) in a row, as from a router whose clock restarts or
	// that reboots in a loop. It is raised once per such spell, on each
	// mapping of the gateway; meanwhile the mappings are re-created with a
	// growing backoff (resetBackoffStart, doubling, up to the renewal
	// interval) rather than at every reset. Event.Err says so.
	Unstable
	// Verified: Mapping.Verify's checker got through to the mapping.
	Verified
	// Unreachable: the router holds the mapping but Mapping.Verify's checker
	// cannot get through (Event.Err says how the probe ended, or that
	// another NAT sits upstream). Raised once per spell; Verify then deletes
	// and re-creates the mapping once (Healed if that helped).
	Unreachable
	// Healed: after Unreachable, deleting and re-creating the mapping made
	// it reachable.
	Healed
	// NothingListening: a warning from Mapping.Verify: the checker reached
	// this machine but nothing listens on the internal port (Event.Err).
	NothingListening
)

var kindNames = [...]string{
	Renewed:                "renewed",
	ExternalAddressChanged: "external-address-changed",
	Lost:                   "lost",
	Restored:               "restored",
	Failed:                 "failed",
	Unstable:               "unstable",
	Verified:               "verified",
	Unreachable:            "unreachable",
	Healed:                 "healed",
	NothingListening:       "nothing-listening",
}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is something that happened to a Mapping, delivered on
// Mapping.Events.
type Event struct {
	Kind EventKind
	// External is the mapping's external address after the event.
	External netip.AddrPort
	// Expires is the lease's end after the event; zero for a permanent lease.
	Expires time.Time
	// Err is the cause for Failed and, where known, Lost.
	Err error
	// Time is when the event happened.
	Time time.Time
	// Leg says which router of a chained mapping (double NAT, see
	// Mapping.Legs) the event is about: 0 the inner router (the gateway;
	// also every event of a mapping that is not chained), 1 the upstream
	// router. External is then that leg's external address.
	Leg int
}

func (e Event) String() string {
	s := e.Kind.String() + " " + e.External.String()
	if e.Leg > 0 {
		s += fmt.Sprintf(" (upstream leg %d)", e.Leg)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// eventBuffer is the capacity of Mapping.Events.
const eventBuffer = 16

// emit queues ev without ever blocking the renewer: when the buffer is full,
// the oldest queued event is dropped to make room, because the newest state
// is what a slow reader needs. Only the renewer goroutine calls emit, so after
// dropping one event the send cannot fail for long.
func (m *Mapping) emit(ev Event) {
	ev.Err = cleanErr(ev.Err) // router text in the message
	if ch := m.chain.Load(); ch != nil && ev.Leg == 0 {
		ch.innerEvent(ev.Kind) // the upstream leg may have to follow
	}
	for {
		select {
		case m.events <- ev:
			return
		default:
		}
		select {
		case old := <-m.events:
			m.log.Debug("event buffer full, dropping the oldest", "dropped", old.Kind)
		default:
		}
	}
}
