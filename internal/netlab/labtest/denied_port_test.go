//go:build linux

// This test pins the library's side of issue 19 item 6 (the natpmp and pcp
// packages never send a request for a denied port twice in a row). Before
// that change it failed: a Map sent the MAP for port 22 three times by
// NAT-PMP and twice by PCP within a second.

package labtest

import (
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// TestDeniedPortSentOnce: miniupnpd 2.3.1 answers a NAT-PMP or PCP request
// for a port its permission rules deny only after walking every external
// port, about 45 s during which it answers no one; every copy of the request
// queues another 45 s. So a Map for a denied internal port (22 here; the lab
// allows 1024-65535) must send its MAP request once, not retransmit it. The
// requests are counted at the router (an nft counter on its input path
// matching a MAP with a lifetime for internal port 22), not by the client's
// own account.
// The stalled daemon is killed once Map has returned (the lab's Close could
// not stop it politely), and the counter read after that.
func TestDeniedPortSentOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method, match string
	}{
		// NAT-PMP: version 0; the internal port at payload bytes 4-5, the
		// lifetime at 8-11 (0 is a delete, which does not stall).
		{"natpmp", "udp dport 5351 @th,64,8 0 @th,96,16 22 @th,128,32 != 0"},
		// PCP: version 2, opcode MAP (1), the lifetime at bytes 4-7 (0: a
		// delete, which upnpmap sends after an unanswered MAP); the
		// internal port at bytes 40-41 (24-byte header, 12-byte nonce,
		// protocol, 3 reserved).
		{"pcp", "udp dport 5351 @th,64,8 2 @th,72,8 1 @th,96,32 != 0 @th,384,16 22"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 60*time.Second)
			lab := newLab(t, ctx, netlab.Options{})
			t.Cleanup(func() {
				if err := lab.KillRouter(); err != nil {
					t.Error(err)
				}
			})
			if err := lab.CountPackets(ctx, "denied", tc.match); err != nil {
				t.Fatal(err)
			}
			s := startClient(t, ctx, lab, netlab.LAN1, tc.method, "session", "-methods", tc.method)
			m := s.ask("map denied port=22 ext=22022")
			if m.Type == "mapped" {
				t.Fatalf("Map of internal port 22: %+v; the router's rules deny it", m)
			}
			t.Logf("Map of internal port 22 after %v: %s (matches %v)", m.Elapsed.Round(time.Millisecond), m.Err, m.Is)
			// The router is killed before the counter is read: its walk
			// keeps the router namespace's netlink busy, and in CI an nft
			// listing waited for the walk to end (20 s). Map has returned,
			// so the client sends no more MAPs; the count is final.
			if err := lab.KillRouter(); err != nil {
				t.Fatal(err)
			}
			n, err := lab.Packets(ctx, "denied")
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Fatalf("the router received %d %s MAP requests for the denied port 22; want exactly 1 (each one stalls miniupnpd for about 45 s)", n, tc.method)
			}
		})
	}
}
