package main

import (
	"context"
	"strings"
	"time"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/internal/safetext"
)

var discoverCmd = &command{
	name:    "discover",
	usage:   "discover [flags]",
	summary: "find the gateway, its methods, external address",
	about: `Probe the gateway with PCP, NAT-PMP and UPnP at the same time and report what
answered: the gateway's address, the methods (best first), the external
address, and the UPnP device. Returns as soon as the answers are in.`,
	examples: []string{
		"upnpmap discover",
		"upnpmap discover --gateway 192.168.1.1 -v",
		"upnpmap discover --json | jq -r .external",
	},
	flags:   []flagGroup{networkFlags, chainFlags, outputFlags},
	maxArgs: 0,
	run:     runDiscover,
}

// discoverJSON is the --json form of a discover result.
type discoverJSON struct {
	Gateway         string   `json:"gateway"`
	Methods         []string `json:"methods"`
	External        string   `json:"external,omitempty"`
	ExternalPrivate bool     `json:"external_private"`
	Local           string   `json:"local,omitempty"`
	Device          string   `json:"device,omitempty"`
	Location        string   `json:"location,omitempty"`
	ElapsedMS       float64  `json:"elapsed_ms"`
	// Upstream is the upstream router of a double NAT (see
	// upnpmap.DiscoverResult.Upstream), UpstreamError why it is missing.
	Upstream      *discoverJSON `json:"upstream,omitempty"`
	UpstreamError string        `json:"upstream_error,omitempty"`
}

func runDiscover(ctx context.Context, a *app, o *options, _ []string) error {
	c := a.newClient(o, a.readState())
	ctx, cancel := context.WithTimeout(ctx, o.deadline())
	defer cancel()
	start := time.Now()
	stop := a.progress(o, "the router's answers")
	res, err := c.Discover(ctx)
	stop()
	if err != nil {
		return o.netErr("find the gateway", start, err)
	}
	a.rememberGateway(o, res.Gateway, res.Location)

	methods := make([]string, len(res.Methods))
	for i, m := range res.Methods {
		methods[i] = string(m)
	}
	private := res.ExternalPrivate || isPrivateExternal(res.ExternalAddr)
	p := &printer{w: a.stdout, json: o.json}
	if o.json {
		j := discoverView(res, methods, private)
		if u := res.Upstream; u != nil {
			uj := discoverView(u, methodStrings(u.Methods), u.ExternalPrivate || isPrivateExternal(u.ExternalAddr))
			j.Upstream = &uj
		}
		if res.UpstreamErr != nil {
			j.UpstreamError = safetext.Clean(res.UpstreamErr.Error(), safetext.Long)
		}
		return p.object(j)
	}
	ext := ""
	if res.ExternalAddr.IsValid() {
		ext = res.ExternalAddr.String()
		if private {
			ext += "  (private: double NAT or CGNAT)"
		}
	}
	local := ""
	if res.Local.IsValid() {
		local = res.Local.String()
	}
	err = p.fields([][2]string{
		{"gateway", res.Gateway.String()},
		{"methods", strings.Join(methods, ", ")},
		{"external", ext},
		{"local", local},
		{"device", safetext.Clean(res.Device, safetext.Short)},
		{"location", safetext.Clean(res.Location, safetext.Long)},
		{"took", roundDuration(res.Elapsed).String()},
	})
	if u := res.Upstream; err == nil && u != nil {
		uext := ""
		if u.ExternalAddr.IsValid() {
			uext = u.ExternalAddr.String()
		}
		err = p.fields([][2]string{
			{"upstream", u.Gateway.String() + "  (double NAT: add and run map on both routers)"},
			{"upstream methods", strings.Join(methodStrings(u.Methods), ", ")},
			{"upstream external", uext},
			{"upstream device", safetext.Clean(u.Device, safetext.Short)},
		})
	}
	switch {
	case private && res.Upstream != nil:
	case private && res.UpstreamErr != nil:
		a.warn("%s\n  upstream router: %s", privateNotice(res.ExternalAddr), safetext.Clean(res.UpstreamErr.Error(), safetext.Long))
	case private:
		a.warn("%s", privateNotice(res.ExternalAddr))
	}
	return err
}

// discoverView is the --json form of one router's discover result.
func discoverView(res *upnpmap.DiscoverResult, methods []string, private bool) discoverJSON {
	j := discoverJSON{
		Gateway:         res.Gateway.String(),
		Methods:         methods,
		ExternalPrivate: private,
		Device:          capText(res.Device),
		Location:        capText(res.Location),
		ElapsedMS:       float64(res.Elapsed.Microseconds()) / 1000,
	}
	if res.ExternalAddr.IsValid() {
		j.External = res.ExternalAddr.String()
	}
	if res.Local.IsValid() {
		j.Local = res.Local.String()
	}
	return j
}

// methodStrings spells methods for output.
func methodStrings(ms []upnpmap.Method) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

// netErr wraps err with what was tried, so that the message can say which
// methods, where, and for how long.
func (o *options) netErr(op string, start time.Time, err error) error {
	return &netErr{op: op, methods: o.methodNames(), gateway: o.gateway, elapsed: time.Since(start),
		answered: o.watch.answered(), err: err}
}
