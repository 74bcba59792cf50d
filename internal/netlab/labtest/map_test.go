//go:build linux

package labtest

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// TestMapReachable: from a LAN host, each method maps a TCP and a UDP port
// with the front door (Client.Methods holding only that method, the gateway
// taken from the routing table); a client on the WAN host then reaches the
// echo server on the LAN host through the router's external address, and
// after Close it no longer does.
func TestMapReachable(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	lab := newLab(t, ctx, netlab.Options{})

	port := uint16(20000)
	for _, method := range []string{"pcp", "natpmp", "upnp"} {
		for _, proto := range []string{"tcp", "udp"} {
			port += 10
			internal, wish := port, port+1000 // a different external port: the router really translates
			t.Run(method+"/"+proto, func(t *testing.T) {
				t.Parallel()
				startEcho(t, lab, netlab.LAN1, proto, lanAddr(lab, netlab.LAN1, internal))
				wantClosed(t, ctx, lab, proto, extAddr(lab, wish))

				p := startClient(t, ctx, lab, netlab.LAN1, fmt.Sprintf("%s/%s", method, proto),
					"map", "-methods", method, "-proto", proto,
					"-port", strconv.Itoa(int(internal)), "-ext", strconv.Itoa(int(wish)), "-desc", "labtest "+method)
				m := p.mapped(15 * time.Second)
				if m.Method != method || m.Protocol != proto {
					t.Fatalf("mapped by %s/%s; want %s/%s", m.Method, m.Protocol, method, proto)
				}
				ext := parseAddrPort(t, "External()", m.External)
				if ext.Addr() != lab.ExternalAddr() {
					t.Fatalf("External() = %v; want the router's address %v", ext, lab.ExternalAddr())
				}
				if ext.Port() != wish {
					// Allowed (the router decides), but this lab's router has the port free.
					t.Errorf("external port %d granted; %d was free and asked for", ext.Port(), wish)
				}
				if in := parseAddrPort(t, "Internal()", m.Internal); in.String() != lanAddr(lab, netlab.LAN1, internal) {
					t.Fatalf("Internal() = %v; want %s", in, lanAddr(lab, netlab.LAN1, internal))
				}
				t.Logf("%s %s mapped %v -> %s in %v", method, proto, ext, m.Internal, m.Elapsed.Round(time.Millisecond))
				wantReachable(t, ctx, lab, proto, ext, netlab.LAN1)

				p.close(5 * time.Second)
				wantClosed(t, ctx, lab, proto, ext)
			})
		}
	}
}
