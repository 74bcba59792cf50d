//go:build linux

package labtest

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/igd"
	"github.com/upnpmap/upnpmap/pcp"
)

// The pinhole client mode ("pinhole"): the library's protocol clients, not
// the front door, open and close IPv6 pinholes from a lab host, one command
// per stdin line, one JSON line per answer (Elapsed is the command's own
// time, measured inside the process):
//
//	upnp-add PORT [HOST]
//	                  fetch the description at -desc, find the
//	                  WANIPv6FirewallControl service (igd.FirewallServiceTypes),
//	                  GetFirewallStatus, AddPinhole for HOST (default: this
//	                  host's -local address, which the requests come from)
//	                  → "pinhole" (Pinhole = UniqueID) or "error"
//	upnp-delete ID    DeletePinhole → "deleted" (Err if it failed)
//	upnp-expire ID    UpdatePinhole to the shortest lease (1 s), the
//	                  workaround for a refused DeletePinhole → "deleted"
//	pcp-map PORT [udp]
//	                  a PCP MAP of TCP (or UDP) PORT on -local to the -pcp
//	                  server → "mapped" (External, Lifetime) or "error"
//	pcp-delete PORT   delete that MAP with its nonce → "deleted"
//
// Each upnp-add fetches the description again, as a stock client (upnpc
// -u) does on every run, so that the benchmark compares like with like.

// pinholeLease is the lease of every pinhole the client opens: long enough
// never to lapse during a test, which closes them itself.
const pinholeLease = time.Hour

// pinholeClient is the state of a pinhole client.
type pinholeClient struct {
	desc  *url.URL
	local netip.Addr
	pcp   *pcp.Client
	maps  map[uint16]*pcp.MapResponse // PCP MAPs by internal port (tests use distinct ports per protocol)
	igd   *igd.Client                 // the firewall service, once found
}

// clientPinhole runs the pinhole mode until stdin ends; PCP MAPs still open
// then are deleted.
func clientPinhole(out *output, args []string) error {
	fs := flag.NewFlagSet("pinhole", flag.ContinueOnError)
	desc := fs.String("desc", "", "root description URL on the router's IPv6 address")
	local := fs.String("local", "", "this host's global IPv6 address (the pinholes' address)")
	server := fs.String("pcp", "", "PCP server address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := &pinholeClient{maps: map[uint16]*pcp.MapResponse{}}
	var err error
	if c.desc, err = url.Parse(*desc); err != nil {
		return err
	}
	if c.local, err = netip.ParseAddr(*local); err != nil {
		return err
	}
	gw, err := netip.ParseAddr(*server)
	if err != nil {
		return err
	}
	c.pcp = &pcp.Client{Server: netip.AddrPortFrom(gw, 0)}
	defer c.deleteMaps()
	in := bufio.NewScanner(io.LimitReader(os.Stdin, 1<<20))
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) < 2 || len(fields) > 3 {
			out.send(errorMsg(fmt.Errorf("pinhole client: want COMMAND ARG [HOST], got %q", in.Text())))
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), sessionOpTimeout)
		start := time.Now()
		m := c.do(ctx, fields[0], fields[1], fields[2:])
		m.Elapsed = time.Since(start)
		cancel()
		out.send(m)
	}
	return nil
}

// do runs one command and returns its answer.
func (c *pinholeClient) do(ctx context.Context, cmd, arg string, rest []string) msg {
	n, err := strconv.ParseUint(arg, 10, 16)
	if err != nil {
		return errorMsg(fmt.Errorf("%s: %q is not a port or pinhole id", cmd, arg))
	}
	if len(rest) > 0 && cmd != "upnp-add" && cmd != "pcp-map" {
		return errorMsg(fmt.Errorf("%s takes one argument", cmd))
	}
	switch cmd {
	case "upnp-add":
		host := c.local
		if len(rest) > 0 {
			if host, err = netip.ParseAddr(rest[0]); err != nil {
				return errorMsg(err)
			}
		}
		id, err := c.upnpAdd(ctx, host, uint16(n))
		if err != nil {
			return errorMsg(err)
		}
		return msg{Type: "pinhole", Method: "upnp", Pinhole: id}
	case "upnp-delete":
		if c.igd == nil {
			return msg{Type: "deleted", Err: "no pinhole added yet"}
		}
		return deletedMsg(c.igd.DeletePinhole(ctx, uint16(n)))
	case "upnp-expire":
		if c.igd == nil {
			return msg{Type: "deleted", Err: "no pinhole added yet"}
		}
		return deletedMsg(c.igd.UpdatePinhole(ctx, uint16(n), igd.MinPinholeLease))
	case "pcp-map":
		proto, name := pcp.TCP, "tcp"
		switch {
		case len(rest) > 0 && rest[0] == "udp":
			proto, name = pcp.UDP, "udp"
		case len(rest) > 0:
			return errorMsg(fmt.Errorf("pcp-map: protocol %q", rest[0]))
		}
		r, err := c.pcp.Map(ctx, pcp.MapRequest{Protocol: proto, InternalPort: uint16(n), Lifetime: pinholeLease})
		if err != nil {
			return errorMsg(err)
		}
		c.maps[uint16(n)] = r
		return msg{Type: "mapped", Method: "pcp", Protocol: name, External: r.External.String(), Lifetime: r.Lifetime}
	case "pcp-delete":
		r, ok := c.maps[uint16(n)]
		if !ok {
			return msg{Type: "deleted", Err: "no PCP MAP for that port"}
		}
		delete(c.maps, uint16(n))
		return deletedMsg(c.pcp.Delete(ctx, r))
	}
	return errorMsg(fmt.Errorf("unknown command %q", cmd))
}

// upnpAdd opens a pinhole to host:port by UPnP, from the description on.
func (c *pinholeClient) upnpAdd(ctx context.Context, host netip.Addr, port uint16) (uint16, error) {
	root, err := discovery.Fetch(ctx, c.desc, netip.Addr{}, nil)
	if err != nil {
		return 0, err
	}
	svcs := root.Services(igd.FirewallServiceTypes...)
	if len(svcs) == 0 {
		return 0, errors.New("the description has no WANIPv6FirewallControl service")
	}
	c.igd = &igd.Client{ControlURL: svcs[0].ControlURL, ServiceType: svcs[0].ServiceType, LocalAddr: c.local}
	st, err := c.igd.GetFirewallStatus(ctx)
	if err != nil {
		return 0, err
	}
	if !st.CanOpenPinholes() {
		return 0, fmt.Errorf("the router's firewall says no pinholes: %+v", st)
	}
	return c.igd.AddPinhole(ctx, igd.Pinhole{InternalClient: host, InternalPort: port, Protocol: igd.TCP, LeaseTime: pinholeLease})
}

// deleteMaps deletes the PCP MAPs still open, so that a client whose test
// ended leaves no pinhole behind.
func (c *pinholeClient) deleteMaps() {
	for _, r := range c.maps {
		ctx, cancel := context.WithTimeout(context.Background(), sessionOpTimeout)
		c.pcp.Delete(ctx, r)
		cancel()
	}
}

// deletedMsg is the answer to a delete.
func deletedMsg(err error) msg {
	if err != nil {
		m := errorMsg(err)
		m.Type = "deleted"
		return m
	}
	return msg{Type: "deleted"}
}
