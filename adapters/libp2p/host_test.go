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

// A go-libp2p host listening on IPv6 announces its pinholes' addresses (the
// host's stable global address) beside its IPv4 mappings' ones.
func TestHostAnnouncesPinholeAddresses(t *testing.T) {
	gw, c := testgw.NewDual(t, gatewaytest.Config{})
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/0.0.0.0/tcp/0", "/ip6/::/tcp/0", "/ip6/::/udp/0/quic-v1"),
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
	var tcp4, tcp6, udp6 string
	for _, a := range h.Network().ListenAddresses() {
		ip6 := a[0].Protocol().Code == ma.P_IP6
		if v, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			if ip6 {
				tcp6 = v
			} else {
				tcp4 = v
			}
		}
		if v, err := a.ValueForProtocol(ma.P_UDP); err == nil && ip6 {
			udp6 = v
		}
	}
	host6 := gatewaytest.DefaultIPv6Host
	want := []string{
		fmt.Sprintf("/ip4/%s/tcp/%s", gatewaytest.DefaultExternalAddr, tcp4),
		fmt.Sprintf("/ip6/%s/tcp/%s", host6, tcp6),
		fmt.Sprintf("/ip6/%s/udp/%s/quic-v1", host6, udp6),
	}
	testgw.Eventually(t, fmt.Sprintf("host announces %v", want), func() bool {
		have := addrStrings(h)
		for _, w := range want {
			if !slices.Contains(have, w) {
				return false
			}
		}
		return true
	})
	if n := len(gw.Pinholes()); n != 2 {
		t.Fatalf("router holds %d pinholes, want 2: %+v", n, gw.Pinholes())
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if ps, ms := gw.Pinholes(), gw.Mappings(); len(ps) != 0 || len(ms) != 0 {
		t.Fatalf("router holds pinholes %+v and mappings %+v after the host closed, want nothing", ps, ms)
	}
}
