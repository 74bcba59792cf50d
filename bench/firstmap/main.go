// Command firstmap measures, in one fresh process, how long upnpmap's library
// takes from nothing to a first port mapping: find the gateway in the routing
// table, probe it, map one TCP port. It then deletes the mapping. With -router
// it measures the floor instead: the router's own request–reply time for one
// raw NAT-PMP or PCP MAP request on a connected UDP socket.
//
// bench/mapping.sh runs it in a LAN namespace of the miniupnpd lab, next to
// the CLI and the peer libraries (bench/peers, which prints the same line).
//
//	firstmap -method pcp|natpmp|upnp|auto [-port 18080] [-v] [-trace FILE]
//	firstmap -router pcp|natpmp [-port 18080]
//
// Output, one line:
//
//	lib=upnpmap-pcp first_mapping_ms=3.1 external_port=18080 method=pcp delete_ms=1.2
//	lib=router-natpmp first_mapping_ms=0.9 external_port=18080 probe_ms=0.2 delete_ms=0.5
//
// first_mapping_ms counts from the start of main (after flag parsing) to the
// granted mapping for the library; for -router it is the MAP request's round
// trip alone. probe_ms is the round trip of the cheap request a client probes
// with (NAT-PMP external address, PCP ANNOUNCE).
//
// It talks to the default gateway, so it refuses to run outside a named
// network namespace (`ip netns`, like the lab's) unless -real-network is
// given: in the machine's own namespace the gateway is a real router.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/upnpmap/upnpmap"
)

func main() {
	method := flag.String("method", "", "library: pcp, natpmp, upnp or auto (the default order)")
	router := flag.String("router", "", "raw request-reply time of the router: pcp or natpmp")
	port := flag.Uint("port", 18080, "internal and wished external TCP port")
	timeout := flag.Duration("timeout", 10*time.Second, "overall limit")
	verbose := flag.Bool("v", false, "library: debug log with timestamps on stderr")
	realNet := flag.Bool("real-network", false, "allow running in the machine's own network namespace (talks to the real gateway)")
	traceFile := flag.String("trace", "", "write a Go execution trace of the run to this file (go tool trace)")
	flag.Parse()

	start := time.Now()
	if (*method == "") == (*router == "") || *port == 0 || *port > 65535 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: firstmap -method pcp|natpmp|upnp|auto | -router pcp|natpmp [-port N] [-v]")
		os.Exit(2)
	}
	if !*realNet {
		if err := checkNotHostNetns(); err != nil {
			fmt.Fprintln(os.Stderr, "firstmap:", err)
			os.Exit(2)
		}
	}
	if *traceFile != "" {
		stop, err := startTrace(*traceFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "firstmap:", err)
			os.Exit(2)
		}
		defer stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var (
		line string
		err  error
	)
	if *router != "" {
		line, err = routerRTT(ctx, *router, uint16(*port))
	} else {
		line, err = library(ctx, start, *method, uint16(*port), *verbose)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "firstmap:", err)
		os.Exit(1)
	}
	fmt.Println(line)
}

// library maps and deletes one TCP port with a fresh upnpmap.Client.
func library(ctx context.Context, start time.Time, method string, port uint16, verbose bool) (string, error) {
	c := &upnpmap.Client{}
	if method != "auto" {
		m, err := upnpmap.ParseMethod(method)
		if err != nil {
			return "", err
		}
		c.Methods = []upnpmap.Method{m}
	}
	if verbose {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{
			Level: slog.LevelDebug,
			// Milliseconds since start, to see where the time goes.
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey && len(groups) == 0 {
					return slog.String("t_ms", ms(a.Value.Time().Sub(start)))
				}
				return a
			},
		}))
	}
	m, err := c.Map(ctx, upnpmap.Request{
		Protocol:     upnpmap.TCP,
		InternalPort: port,
		ExactPort:    true,
		Lifetime:     time.Hour,
		Description:  "firstmap bench",
	})
	if err != nil {
		return "", err
	}
	first := time.Since(start)
	t := time.Now()
	cerr := m.CloseContext(ctx)
	del := time.Since(t)
	if cerr != nil {
		return "", fmt.Errorf("mapped %v, but the delete failed: %w", m.External(), cerr)
	}
	return fmt.Sprintf("lib=upnpmap-%s first_mapping_ms=%s external_port=%d method=%s delete_ms=%s",
		method, ms(first), m.External().Port(), m.Method(), ms(del)), nil
}

// ms formats d in milliseconds with microsecond resolution.
func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d.Microseconds())/1000) }

// checkNotHostNetns refuses to run outside a named network namespace (one
// made with `ip netns add`, as the lab's are): this program talks to whatever
// the default gateway is, and in the machine's own namespace that is a real
// router.
func checkNotHostNetns() error {
	self, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("cannot tell which network namespace this is (%w); run it in a lab namespace, or pass -real-network", err)
	}
	named, _ := os.ReadDir("/run/netns")
	for _, e := range named {
		if fi, err := os.Stat("/run/netns/" + e.Name()); err == nil && os.SameFile(self, fi) {
			return nil
		}
	}
	return errors.New("not in a named network namespace (ip netns): run it in a lab namespace (bench/mapping.sh does), or pass -real-network to talk to the real gateway")
}
