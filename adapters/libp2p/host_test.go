package libp2p_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/upnpmap/upnpmap/adapters/internal/testgw"
	upnpmaplibp2p "github.com/upnpmap/upnpmap/adapters/libp2p"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

func addrStrings(h host.Host) []string {
	var out []string
	for _, a := range h.Addrs() {
		out = append(out, a.String())
	}
	return out
}

// A real go-libp2p host with our NATManager announces the external addresses
// of its TCP and QUIC listeners, and its Close deletes the mappings.
func TestHostAnnouncesMappedAddresses(t *testing.T) {
	gw, c := testgw.New(t, gatewaytest.Config{})
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"),
		libp2p.NATManager(upnpmaplibp2p.NATManager(c)),
	)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			h.Close()
		}
	}()
	var tcp, udp string
	for _, a := range h.Network().ListenAddresses() {
		if v, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			tcp = v
		}
		if v, err := a.ValueForProtocol(ma.P_UDP); err == nil {
			udp = v
		}
	}
	ext := gatewaytest.DefaultExternalAddr
	want := []string{fmt.Sprintf("/ip4/%s/tcp/%s", ext, tcp), fmt.Sprintf("/ip4/%s/udp/%s/quic-v1", ext, udp)}
	testgw.Eventually(t, fmt.Sprintf("host announces %v", want), func() bool {
		have := addrStrings(h)
		return slices.Contains(have, want[0]) && slices.Contains(have, want[1])
	})
	if n := len(gw.Mappings()); n != 2 {
		t.Fatalf("router holds %d mappings, want 2: %+v", n, gw.Mappings())
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if ms := gw.Mappings(); len(ms) != 0 {
		t.Fatalf("router holds %+v after the host closed, want nothing", ms)
	}
}
