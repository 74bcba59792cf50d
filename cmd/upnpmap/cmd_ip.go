package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/pcp"
)

var ipCmd = &command{
	name:    "ip",
	usage:   "ip [flags]",
	summary: "print the external address (for scripts)",
	about: `Print the router's external address, and nothing else, on stdout. A private
external address (double NAT, carrier-grade NAT) is printed too, with a warning
on stderr: ports mapped on this router are then not reachable from the Internet.
NAT-PMP and UPnP are asked for the address; a router that speaks only PCP,
which has no such request, is asked for a short-lived mapping that is deleted
at once (RFC 6887 §11.6).`,
	examples: []string{
		"upnpmap ip",
		"echo \"my address: $(upnpmap ip)\"",
		"upnpmap ip --json",
	},
	flags: []flagGroup{networkFlags, outputFlags},
	run:   runIP,
}

// ipJSON is `ip --json`. external_private is the key discover uses too;
// private is the same value under the key this command used first, kept so
// that existing scripts go on working.
type ipJSON struct {
	External        string `json:"external"`
	ExternalPrivate bool   `json:"external_private"`
	Private         bool   `json:"private"` // deprecated: external_private
	Method          string `json:"method,omitempty"`
}

func runIP(ctx context.Context, a *app, o *options, _ []string) error {
	c := a.newClient(o, a.readState())
	ctx, cancel := context.WithTimeout(ctx, o.deadline())
	defer cancel()
	start := time.Now()
	stop := a.progress(o, "the router's external address")
	addr, method, err := externalAddr(ctx, c, o)
	stop()
	if err != nil {
		return o.netErr("ask for the external address", start, err)
	}
	private := isPrivateExternal(addr)
	if private {
		a.warn("%s", privateNotice(addr))
	}
	if o.json {
		return (&printer{w: a.stdout, json: true}).object(ipJSON{External: addr.String(), ExternalPrivate: private,
			Private: private, Method: method})
	}
	_, err = fmt.Fprintln(a.stdout, addr)
	return err
}

// externalAddr asks the library (NAT-PMP, then UPnP) and, when those are
// not there or fail without a definite refusal, PCP the way ExternalAddress
// documents, provided PCP answered the probe.
func externalAddr(ctx context.Context, c *upnpmap.Client, o *options) (netip.Addr, string, error) {
	addr, err := c.ExternalAddr(ctx)
	if err == nil {
		return addr, "", nil
	}
	if refusalIn(err) != nil && !errors.Is(err, upnpmap.ErrUnsupported) {
		return netip.Addr{}, "", err
	}
	allowed := o.methodNames()
	if len(allowed) > 0 && !slices.Contains(allowed, string(upnpmap.PCP)) {
		return netip.Addr{}, "", err
	}
	res, derr := c.Discover(ctx)
	if derr != nil || !slices.Contains(res.Methods, upnpmap.PCP) {
		return netip.Addr{}, "", err
	}
	pc := &pcp.Client{Server: netip.AddrPortFrom(res.Gateway, pcp.Port), Logger: c.Logger}
	addr, perr := pc.ExternalAddress(ctx)
	if perr != nil {
		return netip.Addr{}, "", fmt.Errorf("%w; pcp: %w", err, perr)
	}
	return addr, string(upnpmap.PCP), nil
}
