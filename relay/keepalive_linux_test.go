package relay

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// keepAliveOf reads a socket's keepalive switch and idle and interval times
// (seconds).
func keepAliveOf(t *testing.T, c halfConn) (on bool, idle, intvl int) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var e1, e2, e3 error
	var ka int
	raw.Control(func(fd uintptr) {
		ka, e1 = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		idle, e2 = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		intvl, e3 = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPINTVL)
	})
	for _, err := range []error{e1, e2, e3} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return ka != 0, idle, intvl
}

// Both legs of a relayed connection carry the configured keepalive, whether
// the relay opened its listener or was handed one whose own setting differs
// (the client leg gets it from the listener, the target leg when dialled).
func TestTCPKeepAliveOnBothLegs(t *testing.T) {
	target := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	for _, tc := range []struct {
		name      string
		keepAlive time.Duration
		inherited *net.KeepAliveConfig // listener handed in with this setting
		wantOn    bool
		wantSecs  int
	}{
		{name: "default", wantOn: true, wantSecs: int(DefaultKeepAlive / time.Second)},
		{name: "7.2s rounds up", keepAlive: 7200 * time.Millisecond, wantOn: true, wantSecs: 8},
		{name: "off", keepAlive: -1},
		{name: "off on an inherited listener that has it on", keepAlive: -1,
			inherited: &net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 30 * time.Second, Count: -1}},
		{name: "on over an inherited listener's own", keepAlive: 3 * time.Second, wantOn: true, wantSecs: 3,
			inherited: &net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 30 * time.Second, Count: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Relay{Network: "tcp", Target: target.addr(), KeepAlive: tc.keepAlive}
			if tc.inherited != nil {
				lc := net.ListenConfig{KeepAliveConfig: *tc.inherited}
				ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				r.Listeners = []net.Listener{ln}
			}
			startRelay(t, r)
			c := dialTCP(t, tcpAddrOf(t, r))
			if got, err := roundTrip(c, "ka", 5*time.Second); err != nil || got != "ka" {
				t.Fatalf("round trip: %q, %v", got, err)
			}
			r.srv.mu.Lock()
			var conns []*tcpConn
			for rc := range r.srv.conns {
				conns = append(conns, rc)
			}
			r.srv.mu.Unlock()
			if len(conns) != 1 {
				t.Fatalf("%d live connections, want 1", len(conns))
			}
			// The setting is applied when the connection first goes quiet.
			eventually(t, 5*time.Second, "both directions to park", conns[0].parked)
			for _, leg := range []struct {
				name string
				c    halfConn
			}{{"client", conns[0].client}, {"target", conns[0].target}} {
				on, idle, intvl := keepAliveOf(t, leg.c)
				if on != tc.wantOn {
					t.Errorf("%s leg: keepalive %v, want %v", leg.name, on, tc.wantOn)
				}
				if tc.wantOn && (idle != tc.wantSecs || intvl != tc.wantSecs) {
					t.Errorf("%s leg: idle %d s, interval %d s, want %d s", leg.name, idle, intvl, tc.wantSecs)
				}
			}
		})
	}
}
