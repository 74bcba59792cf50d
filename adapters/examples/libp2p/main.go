// Command libp2p starts a go-libp2p host whose ports are mapped by upnpmap
// (adapters/libp2p) and prints the external addresses it announces.
//
// Try it against the fake router, in two terminals:
//
//	upnpmap gateway
//	go run ./examples/libp2p --gateway 127.x.y.z
//
// --gateway is required: the example never looks for the machine's real
// router on its own. IPv6 listen addresses get pinholes when --location6 (the
// router's UPnP description URL over IPv6) and --host6 (the address to open)
// are given, e.g. against gatewaytest with Config.IPv6:
//
//	go run ./examples/libp2p --gateway 127.x.y.z \
//		--location6 http://[::1]:PORT/rootDesc.xml --host6 2001:db8:77::20 \
//		--listen /ip4/0.0.0.0/tcp/0,/ip6/::/tcp/0
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/upnpmap/upnpmap"
	upnpmaplibp2p "github.com/upnpmap/upnpmap/adapters/libp2p"
)

// pollEvery is how often the host's addresses are read while waiting for
// the mapped ones (the host itself refreshes them every few seconds).
const pollEvery = 100 * time.Millisecond

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "libp2p example:", err)
		os.Exit(1)
	}
}

// run parses args, starts the host, prints its external addresses once the
// router has mapped every listener (or --wait passed), and with --stay
// keeps the host up until ctx ends. Closing the host deletes the mappings.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("libp2p", flag.ContinueOnError)
	fs.SetOutput(out)
	gateway := fs.String("gateway", "", "router `IP` to map ports on (required), e.g. the one `upnpmap gateway` prints")
	listen := fs.String("listen", "/ip4/0.0.0.0/tcp/0,/ip4/0.0.0.0/udp/0/quic-v1", "comma-separated listen `multiaddrs`")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the mapped addresses")
	location6 := fs.String("location6", "", "the router's UPnP description `URL` over IPv6, for pinholes of /ip6 listen addresses (upnpmap.Client.Location6)")
	host6 := fs.String("host6", "", "the IPv6 `address` pinholes open (upnpmap.Client.HostIPv6); empty: this machine's stable global one")
	stay := fs.Bool("stay", false, "keep the host running (and the ports mapped) until Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *gateway == "" {
		return errors.New("--gateway is required")
	}
	gw, err := netip.ParseAddr(*gateway)
	if err != nil {
		return fmt.Errorf("--gateway %q: %w", *gateway, err)
	}
	c := &upnpmap.Client{Gateway: gw, Location6: *location6}
	if *host6 != "" {
		if c.HostIPv6, err = netip.ParseAddr(*host6); err != nil || !c.HostIPv6.Is6() {
			return fmt.Errorf("--host6 %q: not an IPv6 address", *host6)
		}
	}
	listenAddrs := strings.Split(*listen, ",")

	h, err := libp2p.New(
		libp2p.ListenAddrStrings(listenAddrs...),
		libp2p.NATManager(upnpmaplibp2p.NATManager(c)),
	)
	if err != nil {
		return err
	}
	defer h.Close()
	fmt.Fprintln(out, "peer", h.ID())

	external, err := waitExternal(ctx, h, len(listenAddrs), *wait)
	if len(external) == 0 {
		return fmt.Errorf("no external address after %v: %w", *wait, err)
	}
	for _, a := range external {
		fmt.Fprintln(out, "external", a)
	}
	if *stay {
		fmt.Fprintln(out, "mapped; Ctrl-C deletes the mappings and quits")
		<-ctx.Done()
	}
	return nil
}

// waitExternal returns the host's public addresses once there are want of
// them, or what there is when limit passes or ctx ends.
func waitExternal(ctx context.Context, h host.Host, want int, limit time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		var external []string
		for _, a := range h.Addrs() {
			if ip, err := manet.ToIP(a); err == nil && !ip.IsLoopback() && !ip.IsPrivate() && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() {
				external = append(external, a.String())
			}
		}
		slices.Sort(external)
		if len(external) >= want {
			return external, nil
		}
		select {
		case <-ctx.Done():
			return external, ctx.Err()
		case <-tick.C:
		}
	}
}
