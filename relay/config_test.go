package relay

import (
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestConfigDefaultsAndErrors(t *testing.T) {
	c, err := (&Relay{Listen: ":0", Target: "h:1"}).config()
	if err != nil {
		t.Fatal(err)
	}
	if c.network != "tcp" || c.maxConns != DefaultMaxConns || c.maxSessions != DefaultMaxSessions ||
		c.dialTimeout != DefaultDialTimeout || c.tcpIdle != 0 || c.udpIdle != DefaultUDPIdleTimeout ||
		c.keepAlive != DefaultKeepAlive || c.shutdownTimeout != DefaultShutdownTimeout || c.proxyProtocol != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	if c.maxConnsPerSrc != DefaultMaxConnsPerSource || c.maxSessPerSrc != DefaultMaxSessionsPerSource || c.silentTimeout != DefaultSilentTimeout {
		t.Fatalf("abuse defaults: %+v", c)
	}
	c, _ = (&Relay{Listen: ":0", Target: "h:1", MaxConnsPerSource: -1, MaxSessionsPerSource: -1, SilentTimeout: -1}).config()
	if c.maxConnsPerSrc != 0 || c.maxSessPerSrc != 0 || c.silentTimeout != 0 {
		t.Fatalf("abuse limits off: %+v", c)
	}
	c, _ = (&Relay{Listen: ":0", Target: "h:1", MaxConns: -1, MaxSessions: -1, IdleTimeout: -1, ShutdownTimeout: -1}).config()
	if c.maxConns != 0 || c.maxSessions != 0 || c.udpIdle != 0 || c.tcpIdle != 0 || c.shutdownTimeout != 0 {
		t.Fatalf("negative values: %+v", c)
	}
	c, _ = (&Relay{Listen: ":0", Target: "h:1", IdleTimeout: time.Minute, Allow: []netip.Prefix{netip.MustParsePrefix("::ffff:10.1.2.3/104")}}).config()
	if c.tcpIdle != time.Minute || c.udpIdle != time.Minute || c.allow[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Fatalf("idle and mapped prefix: %+v", c)
	}
	for i, r := range []*Relay{
		{Listen: ":0"},
		{Listen: ":0", Target: "nohost"},
		{Target: "h:1"},
		{Listen: ":0", Target: "h:1", Network: "sctp"},
		{Listen: ":0", Target: "h:1", ProxyProtocol: 3},
		{Listen: ":0", Target: "h:1", Allow: []netip.Prefix{{}}},
	} {
		if _, err := r.config(); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: err %v, want ErrInvalid", i, err)
		}
	}
}

func TestListenFDs(t *testing.T) {
	for _, tc := range []struct {
		pid, fds string
		want     int
		bad      bool
	}{
		{"", "", 0, false},
		{"", "2", 0, false}, // LISTEN_PID unset: not for us
		{"42", "2", 2, false},
		{"43", "2", 0, false}, // another process's sockets
		{"42", "0", 0, false},
		{"42", "", 0, true},
		{"42", "-1", 0, true},
		{"42", "+2", 0, true},
		{"42", " 2", 0, true},
		{"42", "0x2", 0, true},
		{"42", "1025", 0, true},
		{"abc", "1", 0, true},
		{"0", "1", 0, true},
		{"99999999999999999999", "1", 0, true},
	} {
		n, err := listenFDs(tc.pid, tc.fds, 42)
		if n != tc.want || (err != nil) != tc.bad || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("listenFDs(%q, %q) = %d, %v", tc.pid, tc.fds, n, err)
		}
	}
}

func FuzzListenFDs(f *testing.F) {
	f.Add("42", "1")
	f.Add("42", "1024")
	f.Add("", "3")
	f.Add("0042", "007")
	f.Add("42", "18446744073709551617")
	f.Fuzz(func(t *testing.T, pid, fds string) {
		n, err := listenFDs(pid, fds, 42)
		if err != nil {
			if n != 0 || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v with n=%d", err, n)
			}
			return
		}
		if n < 0 || n > maxListenFDs {
			t.Fatalf("n = %d out of range", n)
		}
		if n > 0 {
			// Only plain decimal numbers, the pid ours, make descriptors ours.
			p, perr := strconv.ParseUint(pid, 10, 64)
			m, merr := strconv.ParseUint(fds, 10, 64)
			if perr != nil || merr != nil || p != 42 || int(m) != n {
				t.Fatalf("listenFDs(%q, %q) = %d", pid, fds, n)
			}
		}
	})
}
