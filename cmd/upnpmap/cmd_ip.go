package main

import (
	"context"
	"fmt"
	"time"
)

var ipCmd = &command{
	name:    "ip",
	usage:   "ip [flags]",
	summary: "print the external address (for scripts)",
	about: `Print the router's external address, and nothing else, on stdout. A private
external address (double NAT, carrier-grade NAT) is printed too, with a warning
on stderr: ports mapped on this router are then not reachable from the Internet.`,
	examples: []string{
		"upnpmap ip",
		"echo \"my address: $(upnpmap ip)\"",
		"upnpmap ip --json",
	},
	flags: []flagGroup{networkFlags, outputFlags},
	run:   runIP,
}

type ipJSON struct {
	External string `json:"external"`
	Private  bool   `json:"private"`
}

func runIP(ctx context.Context, a *app, o *options, _ []string) error {
	c := a.newClient(o, a.readState())
	ctx, cancel := context.WithTimeout(ctx, o.deadline())
	defer cancel()
	start := time.Now()
	addr, err := c.ExternalAddr(ctx)
	if err != nil {
		return o.netErr("ask for the external address", start, err)
	}
	private := isPrivateExternal(addr)
	if private {
		a.warn("%s", privateNotice(addr))
	}
	if o.json {
		return (&printer{w: a.stdout, json: true}).object(ipJSON{External: addr.String(), Private: private})
	}
	_, err = fmt.Fprintln(a.stdout, addr)
	return err
}
