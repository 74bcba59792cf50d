package relay

import "sync/atomic"

// Stats is a snapshot of a Relay's counters. Totals count from Start. Byte
// counts of a TCP connection in full flow are added in steps of about a
// quarter to half a second (whenever a splice slice ends), not per byte. A
// UDP datagram is counted just before it is sent on, so a datagram that has
// arrived is already in Stats; one the kernel then refuses moves to Dropped.
type Stats struct {
	Conns       uint64 // TCP connections accepted and allowed
	ActiveConns int64  // TCP connections open now (dialling or relaying)
	Denied      uint64 // TCP connections and UDP datagrams refused by Allow
	DialErrors  uint64 // TCP connections whose target dial failed or timed out
	IdleClosed  uint64 // TCP connections and UDP sessions ended by IdleTimeout
	// SilentClosed counts TCP connections closed by SilentTimeout: nothing
	// was sent either way.
	SilentClosed uint64
	// Refused counts TCP connections reset, and UDP datagrams dropped,
	// because their source was at MaxConnsPerSource or MaxSessionsPerSource.
	Refused uint64
	// Evicted counts TCP connections and UDP sessions ended to make room
	// for a newcomer at MaxConns or MaxSessions.
	Evicted   uint64
	BytesUp   uint64 // TCP payload, client to target (PROXY header not counted)
	BytesDown uint64 // TCP payload, target to client

	Sessions       uint64 // UDP sessions created
	ActiveSessions int64  // UDP sessions alive now
	PacketsUp      uint64 // UDP datagrams forwarded client to target
	PacketsDown    uint64 // UDP datagrams forwarded target to client
	UDPBytesUp     uint64
	UDPBytesDown   uint64
	Dropped        uint64 // UDP datagrams not forwarded: Allow, per-source limit, shutdown, dial or send failure
}

// counters are the live, atomically updated values behind Stats.
type counters struct {
	conns, denied, dialErrors, idleClosed atomic.Uint64
	silentClosed, refused, evicted        atomic.Uint64
	activeConns                           atomic.Int64
	bytesUp, bytesDown                    atomic.Uint64

	sessions                 atomic.Uint64
	activeSessions           atomic.Int64
	packetsUp, packetsDown   atomic.Uint64
	udpBytesUp, udpBytesDown atomic.Uint64
	dropped                  atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Conns:          c.conns.Load(),
		ActiveConns:    c.activeConns.Load(),
		Denied:         c.denied.Load(),
		DialErrors:     c.dialErrors.Load(),
		IdleClosed:     c.idleClosed.Load(),
		SilentClosed:   c.silentClosed.Load(),
		Refused:        c.refused.Load(),
		Evicted:        c.evicted.Load(),
		BytesUp:        c.bytesUp.Load(),
		BytesDown:      c.bytesDown.Load(),
		Sessions:       c.sessions.Load(),
		ActiveSessions: c.activeSessions.Load(),
		PacketsUp:      c.packetsUp.Load(),
		PacketsDown:    c.packetsDown.Load(),
		UDPBytesUp:     c.udpBytesUp.Load(),
		UDPBytesDown:   c.udpBytesDown.Load(),
		Dropped:        c.dropped.Load(),
	}
}
