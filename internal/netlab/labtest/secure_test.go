//go:build linux

package labtest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// TestSecureMode: the router runs in secure mode (the default; miniupnpd
// refuses a UPnP mapping for another LAN host with 718, not 606). A mapping
// from lan1 for lan2 is refused, by the front door with ErrNotAuthorized and
// by the CLI with exit status 3 and a message that names the cause and the
// ways out (run it on that host, or --relay); nothing is opened. A mapping
// for lan1 itself works.
func TestSecureMode(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	lab := newLab(t, ctx, netlab.Options{})
	buildCLI(t)
	state := t.TempDir()
	lan2 := lab.Addr(netlab.LAN2).String()
	startEcho(t, lab, netlab.LAN2, "tcp", lanAddr(lab, netlab.LAN2, 22000))

	t.Run("front door", func(t *testing.T) {
		p := startClient(t, ctx, lab, netlab.LAN1, "upnp-for-lan2", "map", "-methods", "upnp",
			"-internal", lan2, "-port", "22000", "-exact")
		m := p.next(15*time.Second, "Map's result", isType("mapped", "error"))
		if m.Type != "error" {
			t.Fatalf("Map for another host in secure mode succeeded: %+v", m)
		}
		t.Logf("Map: %s (matches %v)", m.Err, m.Is)
		if !strings.Contains(m.Err, "718") {
			t.Errorf("error %q does not carry miniupnpd's 718", m.Err)
		}
		if !slices.Contains(m.Is, "NotAuthorized") {
			t.Errorf("error matches %v; want ErrNotAuthorized (secure mode refused a mapping for another host)", m.Is)
		}
		wantClosed(t, ctx, lab, "tcp", extAddr(lab, 22000))
	})

	t.Run("CLI", func(t *testing.T) {
		for _, methods := range [][]string{{"--method", "upnp"}, nil} {
			args := append([]string{"add", "22000", lanAddr(lab, netlab.LAN2, 22000)}, methods...)
			r := runCLI(t, ctx, lab, netlab.LAN1, state, args...)
			if r.code != 3 {
				t.Errorf("upnpmap %v: exit %d; want 3 (the router refused)", args, r.code)
			}
			msg := strings.ToLower(r.stderr)
			for _, want := range []string{"another host", "secure mode", "--relay", "run upnpmap on " + lan2} {
				if !strings.Contains(msg, want) {
					t.Errorf("upnpmap %v: the message lacks %q:\n%s", args, want, r.stderr)
				}
			}
			wantClosed(t, ctx, lab, "tcp", extAddr(lab, 22000))
		}
	})

	t.Run("own host", func(t *testing.T) {
		startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, 22001))
		mustCLI(t, ctx, lab, netlab.LAN1, state, "add", "22001", "--method", "upnp")
		wantReachable(t, ctx, lab, "tcp", extAddr(lab, 22001), netlab.LAN1)
		mustCLI(t, ctx, lab, netlab.LAN1, state, "delete", "22001")
		wantClosed(t, ctx, lab, "tcp", extAddr(lab, 22001))
	})
}
