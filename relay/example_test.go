package relay_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/upnpmap/upnpmap/relay"
)

// Relay TCP from a loopback port to a small service and talk through it.
func ExampleRelay() {
	// The service behind the relay: it answers "hello, " and what it got.
	svc, _ := net.Listen("tcp", "127.0.0.1:0")
	defer svc.Close()
	go func() {
		c, err := svc.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		name, _ := io.ReadAll(c) // until the client's half-close
		fmt.Fprintf(c, "hello, %s", name)
	}()

	r := &relay.Relay{
		Listen: "127.0.0.1:0",
		Target: svc.Addr().String(),
		Allow:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if err := r.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}

	c, _ := net.Dial("tcp", r.Addrs()[0].String())
	io.WriteString(c, "relay")
	c.(*net.TCPConn).CloseWrite()
	answer, _ := io.ReadAll(c)
	c.Close()
	fmt.Println(string(answer))

	stop()   // stop accepting; live connections get ShutdownTimeout
	r.Wait() // everything is closed when Wait returns
	fmt.Println("connections:", r.Stats().Conns)
	// Output:
	// hello, relay
	// connections: 1
}

// Serve the sockets systemd passed (a .socket unit, or
// systemd-socket-activate -l 80 for a test) without needing root.
func ExampleSystemdListeners() {
	ls, pcs, err := relay.SystemdListeners()
	if err != nil {
		fmt.Println(err)
		return
	}
	if len(ls)+len(pcs) == 0 {
		fmt.Println("not socket-activated")
		return
	}
	r := &relay.Relay{Listeners: ls, PacketConns: pcs, Target: "192.168.1.4:80"}
	_ = r.Run(context.Background())
	// Output: not socket-activated
}
