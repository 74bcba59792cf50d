package geth_test

import (
	"net/netip"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p"

	"github.com/upnpmap/upnpmap/adapters/geth"
	"github.com/upnpmap/upnpmap/adapters/internal/testgw"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// A real geth p2p.Server with our NAT: it maps its TCP listening port,
// puts the external address in its node record, and deletes the mapping when
// it stops.
func TestP2PServer(t *testing.T) {
	gw, c := testgw.New(t, gatewaytest.Config{})
	n := geth.New(c)
	defer n.Close()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	srv := &p2p.Server{Config: p2p.Config{
		PrivateKey:  key,
		MaxPeers:    1,
		ListenAddr:  ":0", // geth maps only a listener that is not loopback or private
		NoDiscovery: true,
		NAT:         n,
	}}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Stop()
		}
	}()
	port := uint16(srv.LocalNode().Node().TCP())
	if port == 0 {
		t.Fatal("server has no TCP port")
	}
	testgw.Eventually(t, "geth mapped its TCP port", func() bool {
		_, ok := testgw.Has(gw, "TCP", port, port)
		return ok
	})
	testgw.Eventually(t, "geth's node record carries the external address", func() bool {
		ip, ok := netip.AddrFromSlice(srv.LocalNode().Node().IP())
		return ok && ip.Unmap() == gatewaytest.DefaultExternalAddr
	})
	srv.Stop()
	stopped = true
	if m := gw.Mappings(); len(m) != 0 {
		t.Fatalf("router holds %+v after the server stopped, want nothing", m)
	}
}
