// Command gameserver is a UDP server in the style of a game server: it
// answers each datagram with an echo, keeps its UDP port mapped on the router
// while it runs, and prints what happens to the mapping (renewals, a new
// external address after a router reboot, ...), which a real game server
// would pass on to its master server.
//
// Try it without a router, against the fake one:
//
//	go run ./cmd/upnpmap gateway                                   # prints "fake gateway on 127.x.y.z"
//	go run ./examples/gameserver --gateway 127.x.y.z --lifetime 2m # in another terminal
//
// Against a real router, leave out --gateway.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/upnpmap/upnpmap"
)

func main() {
	port := flag.Uint("port", 27015, "UDP port to serve on, and to ask for on the router")
	gateway := flag.String("gateway", "", "router address (default: the default gateway), e.g. from `upnpmap gateway`")
	lifetime := flag.Duration("lifetime", 0, "lease to ask for (default 2h; renewed while running)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, uint16(*port), *gateway, *lifetime); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, port uint16, gateway string, lifetime time.Duration) error {
	pc, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	defer pc.Close()

	client := &upnpmap.Client{}
	if gateway != "" {
		if client.Gateway, err = netip.ParseAddr(gateway); err != nil {
			return fmt.Errorf("--gateway: %w", err)
		}
	}
	mapCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	m, err := client.Map(mapCtx, upnpmap.Request{
		Protocol:     upnpmap.UDP,
		InternalPort: port,
		Description:  "upnpmap example gameserver",
		Lifetime:     lifetime,
	})
	cancel()
	if err != nil {
		return fmt.Errorf("mapping UDP port %d: %w", port, err)
	}
	defer m.Close()
	log.Printf("players can reach %s (%s, lease until %s)", m.External(), m.Method(), m.Expires().Format(time.TimeOnly))

	done := make(chan struct{})
	go func() {
		defer close(done)
		serveEcho(pc)
	}()
	for {
		select {
		case ev, ok := <-m.Events():
			if !ok {
				return nil
			}
			log.Printf("mapping %s: now %s", ev.Kind, ev.External)
		case <-ctx.Done():
			pc.Close() // ends serveEcho
			<-done
			return nil
		}
	}
}

// serveEcho answers every datagram with its own contents until pc is closed.
func serveEcho(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			log.Printf("read: %v", err)
			continue
		}
		if _, err := pc.WriteTo(buf[:n], from); err != nil {
			log.Printf("reply to %v: %v", from, err)
		}
	}
}
