package relay

import (
	"net"
	"testing"
	"time"
)

// At MaxConns, connections that send nothing do not stop another client:
// each newcomer evicts the oldest silent connection (once it has been silent
// for evictSilentAfter), and a connection that has spoken survives the whole
// flood. (With the default per-source limit, one source alone cannot fill the
// table: see TestTCPPerSourceLimitByDefault.)
func TestTCPCapEvictsSilentFirst(t *testing.T) {
	const (
		cap   = 8
		flood = 24 // 3 rounds of evictSilentAfter
	)
	target := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	r := startRelay(t, &Relay{Target: target.addr(), MaxConns: cap, MaxConnsPerSource: -1, SilentTimeout: -1})
	addr := tcpAddrOf(t, r)
	talker := dialFrom(t, "127.0.0.1", addr)
	if got, err := roundTrip(talker, "before", 5*time.Second); got != "before" {
		t.Fatal(got, err)
	}
	tcpFlood(t, "127.0.0.1", addr, flood)
	eventually(t, 10*evictSilentAfter, "the flood to be accepted", func() bool { return r.Stats().Conns == flood+1 })
	if got, err := roundTrip(dialFrom(t, "127.0.0.2", addr), "newcomer", 5*evictSilentAfter); got != "newcomer" {
		t.Fatalf("newcomer at the cap: %q, %v", got, err)
	}
	if got, err := roundTrip(talker, "after", 5*time.Second); got != "after" {
		t.Fatalf("the connection that had spoken, after the flood: %q, %v", got, err)
	}
	// 1 talker + the flood + 1 newcomer through cap slots.
	if st := r.Stats(); st.Evicted != flood+2-cap || st.Conns != flood+2 || st.Refused != 0 {
		t.Fatalf("stats %+v: want %d evicted of %d", st, flood+2-cap, flood+2)
	}
}

// When every connection at the cap has spoken, the newcomer evicts the one
// quiet the longest, once both its directions have parked.
func TestTCPCapEvictsQuietest(t *testing.T) {
	target := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	r := startRelay(t, &Relay{Target: target.addr(), MaxConns: 2})
	addr := tcpAddrOf(t, r)
	if r.srv.lot == nil {
		t.Log("no parking lot on this system: only silent connections are evicted")
		return
	}
	// Activity is stamped when a copy ends, so the second connection
	// speaks only once the first has parked: its stamp is then the later.
	older, newer := dialTCP(t, addr), dialTCP(t, addr)
	for i, c := range []*net.TCPConn{older, newer} {
		if got, err := roundTrip(c, "x", 5*time.Second); got != "x" {
			t.Fatal(got, err)
		}
		eventually(t, 5*time.Second, "connections to park", func() bool { return parkedConns(r) == i+1 })
	}
	if got, err := roundTrip(dialTCP(t, addr), "new", 5*time.Second); got != "new" {
		t.Fatalf("newcomer: %q, %v", got, err)
	}
	older.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := older.Read(make([]byte, 1)); err == nil {
		t.Fatal("the quietest connection still delivers data after its eviction")
	}
	if got, err := roundTrip(newer, "y", 5*time.Second); got != "y" {
		t.Fatalf("the more recent connection: %q, %v", got, err)
	}
	if st := r.Stats(); st.Evicted != 1 {
		t.Fatalf("stats %+v, want 1 evicted", st)
	}
}

// parkedConns counts r's connections that have spoken and are parked.
func parkedConns(r *Relay) int {
	r.srv.mu.Lock()
	defer r.srv.mu.Unlock()
	n := 0
	for c := range r.srv.conns {
		if c.parked() && !c.silent() {
			n++
		}
	}
	return n
}

// At MaxSessions, 300 UDP sources do not stop a new one: each newcomer evicts
// the quietest session, and a client that keeps talking is never the one.
func TestUDPCapEvictsQuietest(t *testing.T) {
	const (
		cap   = 16
		flood = 300
	)
	target := udpEcho(t, "127.0.0.1:0")
	r := startRelay(t, &Relay{Network: "udp", Target: target, MaxSessions: cap, MaxSessionsPerSource: -1, IdleTimeout: time.Hour})
	addr := udpAddrOf(t, r)
	talker := udpClient(t, "udp", addr)
	src, got, err := exchange(talker, "hello", 5*time.Second)
	if got != "hello" {
		t.Fatal(got, err)
	}
	// The talker speaks after each step of the flood, so it is never the
	// quietest for long; fewer than cap-1 newcomers arrive in between. Each
	// newcomer waits for its answer, so that its session's activity is
	// stamped before the talker's next exchange.
	for done := 0; done < flood; {
		n := min(cap/2, flood-done)
		for i := 0; i < n; i++ {
			if _, got, err := exchange(udpClient(t, "udp", addr), "newcomer", 5*time.Second); got != "newcomer" {
				t.Fatalf("newcomer %d: %q, %v", done+i, got, err)
			}
		}
		done += n
		again, got, err := exchange(talker, "still here", 5*time.Second)
		if got != "still here" || again != src {
			t.Fatalf("talker after %d newcomers: %q via %s (first via %s), %v", done, got, again, src, err)
		}
	}
	if _, got, err := exchange(udpClient(t, "udp", addr), "new", 5*time.Second); got != "new" {
		t.Fatalf("a new source after the flood: %q, %v", got, err)
	}
	if st := r.Stats(); st.Sessions != flood+2 || st.Evicted != flood+2-cap || st.ActiveSessions != cap {
		t.Fatalf("stats %+v: want %d sessions, %d evicted, %d alive", st, flood+2, flood+2-cap, cap)
	}
}
