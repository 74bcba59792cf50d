package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/upnpmap/upnpmap"
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
	// Method is the method that told the address (pcp: by a mapping made
	// and deleted at once).
	Method string `json:"method,omitempty"`
}

func runIP(ctx context.Context, a *app, o *options, _ []string) error {
	c := a.newClient(o, a.readState())
	ctx, cancel := context.WithTimeout(ctx, o.deadline())
	defer cancel()
	start := time.Now()
	stop := a.progress(o, "the router's external address")
	addr, method, err := externalAddr(ctx, c)
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

// externalAddr asks the library, which asks NAT-PMP, then UPnP, then —
// for a router that speaks PCP alone — PCP, and says which answered.
func externalAddr(ctx context.Context, c *upnpmap.Client) (netip.Addr, string, error) {
	addr, method, err := c.ExternalAddrVia(ctx)
	return addr, string(method), err
}
