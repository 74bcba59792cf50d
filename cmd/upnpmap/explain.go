package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/upnpmap/upnpmap/internal/errs"
)

// netErr carries what a command knows about a failed exchange with the router,
// so that the message can say what was tried, where, and for how long.
type netErr struct {
	op      string   // what we were doing: "find the gateway", "map tcp port 80"
	methods []string // methods tried, best first
	gateway string   // the router's address, or "" for the default gateway
	elapsed time.Duration
	err     error
}

func (e *netErr) Error() string { return e.op + ": " + e.err.Error() }
func (e *netErr) Unwrap() error { return e.err }

// mapErr is a failed mapping, with the ports and the host it was for.
type mapErr struct {
	proto     string
	ext       uint16
	host      netip.Addr // the internal host; zero = this machine
	port      uint16
	otherHost bool // host is not this machine
	err       error
}

func (e *mapErr) Error() string { return e.err.Error() }
func (e *mapErr) Unwrap() error { return e.err }

// explain turns err into a message for people: the first line says what
// happened, the following lines what to do, the last one the error itself.
func explain(err error) string {
	var ne *netErr
	var me *mapErr
	errors.As(err, &ne)
	errors.As(err, &me)
	where := "the default gateway"
	if ne != nil && ne.gateway != "" {
		where = ne.gateway
	}
	var what string
	var fix []string
	switch {
	case errors.Is(err, errs.NoGateway):
		what = "no gateway answered"
		if ne != nil {
			what += fmt.Sprintf(" (tried %s at %s for %s)", methodList(ne.methods), where, roundDuration(ne.elapsed))
		}
		fix = []string{
			"check that UPnP IGD or NAT-PMP/PCP is switched on in the router's settings;",
			"if the router is not your default route, give its address with --gateway IP;",
			"a slow router may need a longer --timeout (e.g. --timeout 5s).",
		}
	case errors.Is(err, errs.Timeout), errors.Is(err, context.DeadlineExceeded):
		what = fmt.Sprintf("%s stopped answering", where)
		if ne != nil {
			what += fmt.Sprintf(" (%s: no reply within %s)", ne.op, roundDuration(ne.elapsed))
		}
		fix = []string{
			"try again with a longer --timeout, or another --method",
			"(`upnpmap discover` shows which methods answer).",
		}
	case me != nil && me.otherHost && (errors.Is(err, errs.NotAuthorized) || errors.Is(err, errs.Unsupported)):
		what = fmt.Sprintf("the router refused to map port %d for another host, %s: it maps only to the host that asks"+
			" (UPnP secure mode, NAT-PMP, or PCP without THIRD_PARTY)", me.ext, me.host)
		fix = []string{
			fmt.Sprintf("run upnpmap on %s, or use `upnpmap add %d %s --relay`", me.host, me.ext, netip.AddrPortFrom(me.host, me.port)),
			"(maps the port to this machine and relays to that host while it runs).",
		}
	case errors.Is(err, errs.NotAuthorized):
		what = "the router refused the mapping (not authorized)"
		fix = []string{
			"port mapping may be switched off for this host, or the port reserved by the router:",
			"check the router's settings, or try another EXTPORT or --method.",
		}
	case errors.Is(err, errs.PortInUse):
		port := "the external port"
		if me != nil {
			port = fmt.Sprintf("external port %d/%s", me.ext, me.proto)
		}
		what = port + " is already mapped on the router (to another host, or by a manual port forward)"
		fix = []string{
			"choose another EXTPORT, or remove the other mapping",
			"(`upnpmap list` shows UPnP entries; manual forwards are in the router's settings).",
		}
	case errors.Is(err, errs.NoResources):
		what = "the router has no room for another mapping"
		fix = []string{"delete mappings you no longer need (`upnpmap list`, then `upnpmap delete EXTPORT`)."}
	case errors.Is(err, errs.NetworkFailure):
		what = "the router reports that its own Internet connection is down"
		fix = []string{"check the router's WAN link, then try again."}
	case errors.Is(err, errs.OnlyPermanentLeases):
		what = "the router accepts only permanent leases"
		fix = []string{"upnpmap asks for a permanent lease then; remove it with `upnpmap delete EXTPORT` when done."}
	case errors.Is(err, errs.NoSuchEntry):
		what = "the router has no such mapping"
		fix = []string{"`upnpmap list` shows what is mapped."}
	case errors.Is(err, errs.InvalidArgs):
		what = "the router rejected the request's arguments"
		fix = []string{"some routers refuse ports below 1024: try another EXTPORT, or another --method."}
	case errors.Is(err, errs.Unsupported):
		what = "the router does not support this request"
		fix = []string{"try another --method (`upnpmap discover` lists the ones that answer)."}
	case errors.Is(err, errs.Malformed):
		what = "the router's answer could not be understood"
		fix = []string{"run again with -v to see the exchange, and try another --method."}
	case errors.Is(err, syscall.EADDRINUSE):
		what = "the local address is already in use by another program"
		fix = []string{"stop that program, or pick another port."}
	case errors.Is(err, syscall.EACCES):
		what = "permission denied opening a local port (ports below 1024 need privileges)"
		fix = []string{
			"allow the binary: sudo setcap cap_net_bind_service=+ep $(command -v upnpmap)",
			"or let systemd open the port (socket activation, see examples/systemd/).",
		}
	default:
		return err.Error()
	}
	return what + "\n" + strings.Join(fix, "\n") + "\n(" + err.Error() + ")"
}

// methodList renders the methods tried; none given means all of them.
func methodList(methods []string) string {
	if len(methods) == 0 {
		return "pcp, natpmp, upnp"
	}
	return strings.Join(methods, ", ")
}

// roundDuration keeps durations readable: 12s, 1.2s, 300ms, 1.25ms.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(10 * time.Microsecond)
	}
}

// privateNotice explains an external address that is not public: the router
// itself sits behind another NAT, so a mapping on it does not reach the
// Internet.
func privateNotice(ext netip.Addr) string {
	return fmt.Sprintf("the router's external address %s is private (double NAT or carrier-grade NAT):\n"+
		"  ports mapped here are not reachable from the Internet. Map them on the upstream router too,\n"+
		"  or ask your provider for a public address.", ext)
}

// isPrivateExternal reports whether an external address cannot be reached
// from the Internet: RFC 1918, CGNAT 100.64/10 (RFC 6598), link-local,
// loopback, unspecified, ULA.
func isPrivateExternal(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	if cgnat := netip.MustParsePrefix("100.64.0.0/10"); cgnat.Contains(a) {
		return true
	}
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified()
}
