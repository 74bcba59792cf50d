package sshfwd

import (
	"fmt"
	"net/netip"
	"time"
)

// EventKind says what happened to a forward, in the words of the root
// package's mapping events.
type EventKind int

const (
	// Lost: the connection to the server dropped (or stopped answering
	// keepalives), so the port is unreachable. The Forward keeps
	// reconnecting; Event.Err says why.
	Lost EventKind = iota + 1
	// Restored: connected again and the server listens on the same port.
	Restored
	// Failed: one reconnection attempt failed (Event.Err); the Forward keeps
	// trying with backoff. A refusal after a silent drop usually means the
	// old session still holds the port on the server until the server times
	// it out (sshd's ClientAliveInterval).
	Failed
)

var kindNames = [...]string{Lost: "lost", Restored: "restored", Failed: "failed"}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is something that happened to a Forward, delivered on Events.
type Event struct {
	Kind EventKind
	// Addr is the forward's address: the server's address and remote port
	// for a remote forward, the local listener's for a local one.
	Addr netip.AddrPort
	// Err is the cause for Lost and Failed.
	Err error
	// Time is when it happened.
	Time time.Time
}

func (e Event) String() string {
	s := e.Kind.String() + " " + e.Addr.String()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// eventBuffer is the capacity of Events.
const eventBuffer = 16

// emit queues ev without blocking: when the buffer is full the oldest event
// is dropped, since the newest state is what a slow reader needs. Only the
// maintain goroutine emits, so the retry loop ends quickly.
func (f *Forward) emit(kind EventKind, err error) {
	ev := Event{Kind: kind, Addr: f.Addr(), Err: err, Time: time.Now()}
	f.cfg.Logger.Debug("ssh forward event", "event", ev.String())
	for {
		select {
		case f.events <- ev:
			return
		default:
		}
		select {
		case <-f.events:
		default:
		}
	}
}
