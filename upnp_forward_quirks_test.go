package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// A router that answers success to AddPortMapping over a manual port
// forward and keeps forwarding the port to the other host (TP-Link,
// libp2p/go-nat#8; quirk Q31). The read-back shows it: with ExactPort the
// port is in use; without, the mapping moves to a port that is really ours.
func TestGatewayManualForwardKept(t *testing.T) {
	const port = 4800
	manual := gatewaytest.Mapping{ExternalPort: port, InternalPort: 22, Description: "manual"}
	// checkManual checks that the other host's forward is untouched.
	checkManual := func(t *testing.T, gw *gatewaytest.Gateway) {
		t.Helper()
		e, ok := entry(gw, "TCP", port)
		if !ok || e.InternalAddr != gatewaytest.OtherHost || e.InternalPort != 22 {
			t.Fatalf("manual forward changed: %+v", gw.Mappings())
		}
	}
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("igd%d moves", v), func(t *testing.T) {
			gw, c := testGateway(t, gatewaytest.Config{IGDVersion: v, KeepManualForwards: true}, UPnP)
			gw.AddMapping(manual)
			m := mustMap(t, c, Request{InternalPort: port, ExternalPort: port})
			// Map returns at once; its read-back finds the port still
			// forwarded elsewhere, and the mapping moves.
			var got uint16
			if p := m.External().Port(); p != port {
				got = p // already moved within Map
			} else {
				ev := waitFor(t, m, Lost)
				if !errors.Is(ev.Err, ErrPortInUse) {
					t.Fatalf("lost: %v, want ErrPortInUse", ev.Err)
				}
				got = waitFor(t, m, Restored).External.Port()
			}
			if got == port || got != m.External().Port() {
				t.Fatalf("restored on %d, mapping reports %v", got, m.External())
			}
			e, ok := entry(gw, "TCP", got)
			if !ok || e.InternalAddr != m.Internal().Addr() || e.InternalPort != port {
				t.Fatalf("port %d not ours: %+v", got, gw.Mappings())
			}
			checkManual(t, gw)
		})
	}
	t.Run("exact", func(t *testing.T) {
		gw, c := testGateway(t, gatewaytest.Config{KeepManualForwards: true}, UPnP)
		gw.AddMapping(manual)
		m, err := c.Map(context.Background(), Request{InternalPort: port, ExternalPort: port, ExactPort: true})
		// With a lease, Map may return before the read-back (see
		// renewer.settle); then the mapping must be Lost to another host.
		if err == nil {
			defer m.Close()
			// Map left the read-back to the mapping's goroutine: it must
			// report the port as lost to another host, and never restore it
			// anywhere else.
			ev := waitFor(t, m, Lost)
			err = ev.Err
			ev = waitFor(t, m, Failed)
			if !errors.Is(ev.Err, ErrPortInUse) {
				t.Fatalf("restoration: %v, want ErrPortInUse", ev.Err)
			}
		}
		if !errors.Is(err, ErrPortInUse) {
			t.Fatalf("err %v, want ErrPortInUse", err)
		}
		checkManual(t, gw)
		if n := len(gw.Mappings()); n != 1 {
			t.Fatalf("table %+v", gw.Mappings())
		}
	})
	t.Run("permanent exact", func(t *testing.T) {
		// A permanent entry is read back within Map, which then fails.
		gw, c := testGateway(t, gatewaytest.Config{KeepManualForwards: true, PermanentOnly: true}, UPnP)
		gw.AddMapping(manual)
		_, err := c.Map(context.Background(), Request{InternalPort: port, ExternalPort: port, ExactPort: true, Lifetime: time.Hour})
		if !errors.Is(err, ErrPortInUse) {
			t.Fatalf("err %v, want ErrPortInUse", err)
		}
		if n := gw.Requests("GetSpecificPortMappingEntry"); n == 0 {
			t.Fatal("the entry was not read back")
		}
		checkManual(t, gw)
		if n := len(gw.Mappings()); n != 1 {
			t.Fatalf("table %+v", gw.Mappings())
		}
	})
}
