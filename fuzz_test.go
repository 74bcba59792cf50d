package upnpmap

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// FuzzAnnouncement feeds arbitrary datagrams to the announcement dispatcher
// with the real NAT-PMP and PCP parsers behind it: whatever arrives on
// 224.0.0.1:5350 from the gateway's address must not panic, and only a valid
// message may wake the mappings (once a fake router at the gateway's address
// has confirmed it).
func FuzzAnnouncement(f *testing.F) {
	f.Add([]byte{0, 128, 0, 0, 0, 0, 0, 10, 203, 0, 113, 7})                         // NAT-PMP announcement
	f.Add(append([]byte{2, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}, make([]byte, 12)...)) // PCP ANNOUNCE
	f.Add([]byte{0, 1, 2})
	f.Add([]byte{})
	lo := gatewaytest.New(f, gatewaytest.Config{}).Addr()
	c := &Client{Gateway: lo, announceJitter: noJitter}
	f.Fuzz(func(t *testing.T, b []byte) {
		// A fresh gateway each time: the parsers keep epoch state, and
		// the fuzzer needs each input to behave the same when replayed.
		gw := newGateway(c, lo, lo, false, []Method{PCP, NATPMP})
		probe := &Mapping{wake: make(chan struct{}, 1), mp: gw.mapper(NATPMP)}
		gw.mappings[probe] = struct{}{}
		var st annState
		gw.onAnnouncement(&st, b)
		woke := false
		select {
		case <-probe.wake:
			woke = true
			probe.pending.Store(0)
		default:
		}
		if woke && st.last.IsZero() {
			t.Fatalf("%x woke the mappings without being accepted", b)
		}
		if !woke && !st.last.IsZero() {
			t.Fatalf("%x was accepted but woke nothing", b)
		}
	})
}

// noJitter replaces RFC 6887 §14.1's random delay before a confirmation.
func noJitter(Method) time.Duration { return 0 }

func TestAnnouncementRealParsers(t *testing.T) {
	c := &Client{Gateway: gatewaytest.New(t, gatewaytest.Config{}).Addr(), Methods: []Method{PCP, NATPMP}, announceJitter: noJitter}
	gw, err := c.gateway(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	probe := &Mapping{wake: make(chan struct{}, 1), mp: gw.mapper(NATPMP)}
	gw.mappings[probe] = struct{}{}
	for _, tc := range []struct {
		name string
		b    []byte
		wake bool
	}{
		{"natpmp", []byte{0, 128, 0, 0, 0, 0, 0, 10, 203, 0, 113, 7}, true},
		{"pcp announce", append([]byte{2, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}, make([]byte, 12)...), true},
		{"natpmp error", []byte{0, 128, 0, 3, 0, 0, 0, 10, 203, 0, 113, 7}, false},
		{"pcp request", append([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}, make([]byte, 12)...), false},
		{"short", []byte{0, 128}, false},
	} {
		var st annState
		gw.onAnnouncement(&st, tc.b)
		woke := false
		select {
		case <-probe.wake:
			woke = true
		default:
		}
		if woke != tc.wake {
			t.Errorf("%s: woke %v, want %v", tc.name, woke, tc.wake)
		}
		if tc.name == "natpmp" && st.lastEx != netip.MustParseAddr("203.0.113.7") {
			t.Errorf("natpmp: external %v", st.lastEx)
		}
	}
}
