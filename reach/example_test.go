package reach_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/upnpmap/upnpmap/reach"
)

// A checker on loopback, and a check of a port nothing listens on yet: with
// Answer, the client holds the port for the length of the check and echoes
// the probe, so the path is proven before the application starts. On a real
// deployment the checker runs on a public host and the port is a mapping's
// external port.
func ExampleClient_Check() {
	srv := &reach.Server{Addr: "127.0.0.1:0"}
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	port := freeLocalPort()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &reach.Client{Answer: true}
	res, err := c.Check(ctx, srv.LocalAddr().String(), port, reach.TCP)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("IPv4:", res.IPv4.Verdict, "verified:", res.IPv4.Verified, "seen as:", res.IPv4.Observed.Addr())
	fmt.Println("IPv6:", res.IPv6.Verdict)
	// Output:
	// IPv4: open verified: true seen as: 127.0.0.1
	// IPv6: unchecked
}

// STUN works with any STUN server the user names; a reach checker is one.
func ExampleSTUN() {
	srv := &reach.Server{Addr: "127.0.0.1:0"}
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	seen, err := reach.STUN(ctx, srv.LocalAddr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(seen.Addr())
	// Output: 127.0.0.1
}

// The router says its external address is 203.0.113.7, the Internet sees
// 198.51.100.20: another NAT sits upstream.
func ExampleCompareExternal() {
	router := netip.MustParseAddr("203.0.113.7")
	seen := netip.MustParseAddr("198.51.100.20")
	fmt.Println(reach.CompareExternal(seen, router))
	fmt.Println(reach.CompareExternal(router, router))
	fmt.Println(reach.CompareExternal(seen, netip.MustParseAddr("100.64.0.9")))
	// Output:
	// UPSTREAM_NAT
	// NONE
	// PRIVATE_EXTERNAL
}

func freeLocalPort() uint16 {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// A checker as a program would embed it: serve until interrupted. Run it on a
// public host with port 3478 open for TCP and UDP; this is what
// `upnpmap checkd` does.
func ExampleServer_ListenAndServe() {
	ctx, stop := context.WithCancel(context.Background()) // e.g. signal.NotifyContext
	defer stop()
	srv := &reach.Server{
		Addr:      ":3478",
		Rate:      2, // per source and second, after a burst of 10
		Burst:     10,
		MaxProbes: 128,
	}
	if err := srv.ListenAndServe(ctx); err != nil {
		fmt.Println(err)
	}
}
