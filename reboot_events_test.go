package upnpmap

import (
	"errors"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestRebootReportsLostThenRestored: when a PCP or NAT-PMP gateway reboots,
// the mapping is reported Lost (with the epoch reset as the cause) and then
// Restored once re-created, never merely Renewed — whether the client learns
// of the reboot from the gateway's announcement or only from the epoch in
// its next renewal's reply.
func TestRebootReportsLostThenRestored(t *testing.T) {
	for _, method := range []Method{PCP, NATPMP} {
		for _, announced := range []bool{true, false} {
			name := string(method) + "/announced"
			if !announced {
				name = string(method) + "/silent"
			}
			t.Run(name, func(t *testing.T) {
				var sc shiftClock
				gw, c := testGateway(t, gatewaytest.Config{Now: sc.Now}, method)
				if !announced {
					// Nothing listens where the gateway announces: only the
					// renewal's reply tells.
					c.AnnounceAddr = freeAnnounceAddr(t)
				}
				sc.Shift(time.Hour) // the router has been up for an hour
				life := time.Hour
				if !announced {
					life = 4 * time.Second // renewed within about 2 s
				}
				m := mustMap(t, c, Request{InternalPort: 4300, Lifetime: life})
				waitListening(t, m)
				gw.Reboot()
				evs := nextEvents(t, m, 2, 10*time.Second)
				if evs[0].Kind != Lost || evs[1].Kind != Restored {
					t.Fatalf("events %v, want lost then restored", evs)
				}
				if !errors.Is(evs[0].Err, errGatewayReset) {
					t.Fatalf("lost: %v, want the epoch reset", evs[0].Err)
				}
				if evs[1].External != m.External() {
					t.Fatalf("restored %v, mapping says %v", evs[1].External, m.External())
				}
				if e, ok := entry(gw, "TCP", m.External().Port()); !ok || e.Method != string(method) {
					t.Fatalf("not in the table after restoration: %+v", gw.Mappings())
				}
			})
		}
	}
}

// nextEvents returns the next n events of m, failing after timeout.
func nextEvents(t *testing.T, m *Mapping, n int, timeout time.Duration) []Event {
	t.Helper()
	deadline := time.After(timeout)
	var evs []Event
	for len(evs) < n {
		select {
		case ev := <-m.Events():
			evs = append(evs, ev)
		case <-deadline:
			t.Fatalf("got %v within %v, want %d events", evs, timeout, n)
		}
	}
	return evs
}
