// Command webserver is a small web server that opens its own port on the
// router when it starts (upnpmap.Map) and closes it when it stops: the way an
// application should use port mapping, with no setup for its users.
//
// Try it without a router, against the fake one:
//
//	go run ./cmd/upnpmap gateway                          # prints "fake gateway on 127.x.y.z"
//	go run ./examples/webserver --gateway 127.x.y.z       # in another terminal
//
// The gateway's terminal shows the mapping appear, and disappear on Ctrl-C.
// Against a real router, leave out --gateway.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/upnpmap/upnpmap"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve HTTP on")
	extPort := flag.Uint("external-port", 0, "port to ask for on the router (default: the listening port)")
	gateway := flag.String("gateway", "", "router address (default: the default gateway), e.g. from `upnpmap gateway`")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, uint16(*extPort), *gateway); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, listen string, extPort uint16, gateway string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)

	client := &upnpmap.Client{}
	if gateway != "" {
		if client.Gateway, err = netip.ParseAddr(gateway); err != nil {
			return fmt.Errorf("--gateway: %w", err)
		}
	}
	public := "(LAN only)"
	mapCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	m, err := client.Map(mapCtx, upnpmap.Request{
		Protocol:     upnpmap.TCP,
		InternalPort: port,
		ExternalPort: extPort,
		Description:  "upnpmap example webserver",
	})
	cancel()
	if err != nil {
		// Without a mapping the server still works on the LAN: say why the
		// Internet cannot reach it, and carry on.
		log.Printf("no port mapping, serving on the LAN only: %v", err)
	} else {
		defer m.Close() // deletes the mapping on the router
		public = "http://" + m.External().String() + "/"
		log.Printf("mapped %s -> port %d with %s", m.External(), port, m.Method())
		go logEvents(m)
	}

	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "Hello from behind the NAT. Public address: %s\n", public)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Printf("serving on %s, public %s; Ctrl-C stops", ln.Addr(), public)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// logEvents reports renewals, address changes and losses until the mapping
// is closed (which closes the channel).
func logEvents(m *upnpmap.Mapping) {
	for ev := range m.Events() {
		log.Printf("mapping: %v", ev)
	}
}
