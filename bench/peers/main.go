// Command peers does what `upnpmap add` + `upnpmap delete` do — discover the gateway, map one TCP port,
// delete it — with one of the peer libraries, and prints the in-process time to the first mapping.
// bench/mapping.sh runs it from a LAN namespace of the miniupnpd lab, next to our own CLI and library.
//
// This is its own module so that the peers never enter upnpmap's go.mod.
//
//	peers -lib goupnp2|goupnp1|gonat|gonatpmp|gonatpmp-addr -port 18080
//
// Output, one line:
//
//	lib=goupnp2 first_mapping_ms=2103.412 external_port=18080 method=upnp-igd2 delete_ms=3.100
//
// first_mapping_ms counts from the start of main (after flag parsing) to the
// granted mapping, as bench/firstmap does for upnpmap. go-nat picks the
// external port itself (a random one) and names the method it chose.
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
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/jackpal/gateway"
	natpmp "github.com/jackpal/go-nat-pmp"
	nat "github.com/libp2p/go-nat"
)

func main() {
	lib := flag.String("lib", "goupnp2", "goupnp2, goupnp1, gonat, gonatpmp or gonatpmp-addr")
	port := flag.Int("port", 18080, "internal and wished external TCP port")
	timeout := flag.Duration("timeout", 30*time.Second, "overall limit")
	realNet := flag.Bool("real-network", false, "allow running in the machine's own network namespace (talks to the real gateway)")
	flag.Parse()
	if !*realNet {
		if err := checkNotHostNetns(); err != nil {
			fmt.Fprintln(os.Stderr, "peers:", err)
			os.Exit(2)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	start := time.Now()
	var (
		r   result
		err error
	)
	switch *lib {
	case "goupnp2", "goupnp1":
		r, err = viaGoupnp(ctx, *lib == "goupnp2", *port, start)
	case "gonat":
		r, err = viaGoNAT(ctx, *port, start)
	case "gonatpmp", "gonatpmp-addr":
		r, err = viaGoNATPMP(*port, start, *lib == "gonatpmp-addr")
	default:
		err = fmt.Errorf("unknown -lib %q", *lib)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v (after %s ms)\n", *lib, err, ms(time.Since(start)))
		os.Exit(1)
	}
	fmt.Printf("lib=%s first_mapping_ms=%s external_port=%d method=%s delete_ms=%s\n",
		*lib, ms(r.first), r.ext, r.method, ms(r.del))
}

// result is what one run measured.
type result struct {
	ext    int
	method string
	first  time.Duration // start of main to the granted mapping
	del    time.Duration // the delete
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

// localAddrTowards returns this host's address on the route to host (a UDP "connect" sends nothing).
func localAddrTowards(host string) (string, error) {
	c, err := net.Dial("udp4", net.JoinHostPort(host, "9"))
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// portMapper is the subset of goupnp's generated WANIPConnection clients used here.
type portMapper interface {
	AddPortMappingCtx(ctx context.Context, remote string, ext uint16, proto string, internal uint16, client string, enabled bool, desc string, lease uint32) error
	DeletePortMappingCtx(ctx context.Context, remote string, ext uint16, proto string) error
}

// viaGoupnp uses goupnp's generated client for WANIPConnection:2 or :1, as a
// goupnp user who picked one version would. (miniupnpd 2.3.1 describes only
// WANIPConnection:2, so the :1 client finds nothing there.)
func viaGoupnp(ctx context.Context, v2 bool, port int, start time.Time) (result, error) {
	var (
		pm  portMapper
		loc *url.URL
		r   = result{ext: port, method: "upnp-wanip1"}
	)
	if v2 {
		r.method = "upnp-wanip2"
		clients, _, err := internetgateway2.NewWANIPConnection2ClientsCtx(ctx)
		if err != nil || len(clients) == 0 {
			return r, noService("WANIPConnection:2", err)
		}
		pm, loc = clients[0], clients[0].Location
	} else {
		clients, _, err := internetgateway2.NewWANIPConnection1ClientsCtx(ctx)
		if err != nil || len(clients) == 0 {
			return r, noService("WANIPConnection:1", err)
		}
		pm, loc = clients[0], clients[0].Location
	}
	me, err := localAddrTowards(loc.Hostname())
	if err != nil {
		return r, err
	}
	if err := pm.AddPortMappingCtx(ctx, "", uint16(port), "TCP", uint16(port), me, true, "peers bench", 3600); err != nil {
		return r, err
	}
	r.first = time.Since(start)
	t := time.Now()
	err = pm.DeletePortMappingCtx(ctx, "", uint16(port), "TCP")
	r.del = time.Since(t)
	return r, err
}

// noService is the error of a search that found no client of the service.
func noService(service string, err error) error {
	if err != nil {
		return fmt.Errorf("found no %s service: %w", service, err)
	}
	return fmt.Errorf("found no %s service", service)
}

// viaGoNAT lets go-nat discover (all its discoverers, in parallel) and map.
func viaGoNAT(ctx context.Context, port int, start time.Time) (result, error) {
	gw, err := nat.DiscoverGateway(ctx)
	if err != nil {
		return result{}, err
	}
	r := result{method: strings.ReplaceAll(gw.Type(), " ", "")}
	if r.ext, err = gw.AddPortMapping(ctx, "tcp", port, "peers bench", time.Hour); err != nil {
		return r, err
	}
	r.first = time.Since(start)
	t := time.Now()
	err = gw.DeletePortMapping(ctx, "tcp", port)
	r.del = time.Since(t)
	return r, err
}

// viaGoNATPMP finds the gateway with jackpal/gateway (the routing table) and
// maps with go-nat-pmp, which has no context: its timeout is set instead.
func viaGoNATPMP(port int, start time.Time, withAddr bool) (result, error) {
	r := result{method: "natpmp"}
	gwIP, err := gateway.DiscoverGateway()
	if err != nil {
		return r, err
	}
	c := natpmp.NewClientWithTimeout(gwIP, 5*time.Second)
	if withAddr {
		// What a go-nat-pmp user does to learn the address to publish, and
		// what upnpmap's Map reports: the external address, then the MAP.
		if _, err := c.GetExternalAddress(); err != nil {
			return r, err
		}
	}
	res, err := c.AddPortMapping("tcp", port, port, 3600)
	if err != nil {
		return r, err
	}
	r.first, r.ext = time.Since(start), int(res.MappedExternalPort)
	t := time.Now()
	_, err = c.AddPortMapping("tcp", port, 0, 0)
	r.del = time.Since(t)
	return r, err
}
