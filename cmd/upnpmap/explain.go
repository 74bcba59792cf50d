package main

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/igd"
	"github.com/upnpmap/upnpmap/internal/safetext"
	"github.com/upnpmap/upnpmap/natpmp"
	"github.com/upnpmap/upnpmap/pcp"
)

// netErr carries what a command knows about a failed exchange with the router,
// so that the message can say what was tried, where, and for how long.
type netErr struct {
	op      string   // what we were doing: "find the gateway", "map tcp port 80"
	methods []string // methods tried, best first
	gateway string   // the router's address, or "" for the default gateway
	elapsed time.Duration
	// answered lists the methods whose requests the router answered during
	// the command (see exchangeWatch): a router that answered is there, so
	// a later silence is a timeout, not "no gateway".
	answered []string
	err      error
}

func (e *netErr) Error() string { return e.op + ": " + e.err.Error() }
func (e *netErr) Unwrap() error { return e.err }

// mapErr is a failed mapping or delete, with the ports and the host it was
// for.
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

// explanation is a failure told for people: what happened (one line), what
// to do (a few lines), and the error itself. --json prints the same fields.
type explanation struct {
	class  class
	what   string
	fix    []string
	detail string // the error's own text, cleaned of router-supplied controls
}

// explain turns err into a message for people: the first line says what
// happened, the following lines what to do, the last one the error itself.
// Errors it has no advice for are returned as they are.
func explain(err error) string {
	x := explainFor("", err)
	if x.what == "" {
		return x.detail
	}
	return x.what + "\n" + strings.Join(x.fix, "\n") + "\n(" + x.detail + ")"
}

// explainFor explains err as a failure of command cmd ("add", "delete" …;
// "" when unknown), so that the advice fits what was being done.
func explainFor(cmd string, err error) explanation {
	c, cause := classify(err)
	x := explanation{class: c, detail: safetext.Clean(err.Error(), safetext.Long)}
	var ne *netErr
	var me *mapErr
	errors.As(err, &ne)
	errors.As(err, &me)
	where := "the default gateway"
	if ne != nil && ne.gateway != "" {
		where = ne.gateway
	}
	verb := cmd
	if ne != nil && verb == "" {
		verb, _, _ = strings.Cut(ne.op, " ")
	}
	switch c {
	case classUsage:
		var mr *missingRecordErr
		if errors.As(cause, &mr) {
			x.what, x.fix = mr.what(), mr.fix()
		}
		return x
	case classNoGateway:
		x.what = "no gateway answered"
		if ne != nil {
			x.what += fmt.Sprintf(" (tried %s at %s for %s)", methodList(ne.methods), where, roundDuration(ne.elapsed))
		}
		address := "if the router is not your default route, give its address with --gateway IP;"
		if ne != nil && ne.gateway != "" {
			// The address was given: advising --gateway again would not
			// help. A router that answers only multicast searches is
			// searched for on the interface whose prefix holds that
			// address, or on those named.
			address = fmt.Sprintf("check that %s is the router's address; if the router answers only multicast "+
				"searches and no interface holds that address's prefix, name the interface facing it with --interface NAME;", ne.gateway)
		}
		x.fix = []string{
			"check that UPnP IGD or NAT-PMP/PCP is switched on in the router's settings;",
			address,
			"a slow router may need a longer --timeout (e.g. --timeout 5s).",
		}
		return x
	case classTimeout:
		x.what, x.fix = explainTimeout(ne, where)
		return x
	case classUnusable:
		x.what = fmt.Sprintf("a UPnP device answered at %s, but it cannot map ports", where)
		x.fix = []string{
			"its description is too big, malformed, or offers no WANIPConnection/WANPPPConnection",
			"service (the error below names what it offered). Try --method pcp or --method natpmp,",
			"or switch on UPnP IGD in the router's settings; naming the router with --gateway will not help.",
		}
		return x
	case classRefused:
		x.what, x.fix = explainRefusal(verb, me, cause)
		return x
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		x.what = "the local address is already in use by another program"
		x.fix = []string{"stop that program, or pick another port."}
	case errors.Is(err, syscall.EACCES):
		x.what = "permission denied opening a local port (ports below 1024 need privileges)"
		x.fix = []string{
			"allow the binary: sudo setcap cap_net_bind_service=+ep $(command -v upnpmap)",
			"or let systemd open the port (socket activation, see examples/systemd/).",
		}
	}
	return x
}

// stallAdvice explains miniupnpd's stall: a NAT-PMP or PCP request for a
// port its permission rules deny makes it walk every external port before it
// answers NOT_AUTHORIZED, about 45 s in which it answers nobody.
var stallAdvice = []string{
	"miniupnpd-based routers stop answering for about 45 s after a NAT-PMP or PCP request for",
	"a port their rules deny (often ports below 1024): wait a minute before trying again,",
	"then use an EXTPORT of 1024 or above, or --method upnp (which refuses such ports at once).",
}

func explainTimeout(ne *netErr, where string) (string, []string) {
	fix := []string{
		"try again with a longer --timeout, or another --method",
		"(`upnpmap discover` shows which methods answer).",
	}
	if ne == nil {
		return where + " stopped answering", fix
	}
	what := fmt.Sprintf("%s stopped answering (%s: no reply within %s)", where, ne.op, roundDuration(ne.elapsed))
	if len(ne.answered) > 0 {
		what = fmt.Sprintf("%s answered %s, then stopped answering (%s: no reply within %s)",
			where, strings.Join(ne.answered, " and "), ne.op, roundDuration(ne.elapsed))
	}
	mapping := strings.HasPrefix(ne.op, "map ") || strings.HasPrefix(ne.op, "delete ")
	pmp := len(ne.methods) == 0 || slices.Contains(ne.methods, "pcp") || slices.Contains(ne.methods, "natpmp")
	if mapping && pmp {
		fix = append(fix, stallAdvice...)
	}
	return what, fix
}

// explainRefusal explains the answer that said no (cause) as a failure of
// the command verb ("add", "delete", "ip" …).
func explainRefusal(verb string, me *mapErr, cause error) (string, []string) {
	port := "the external port"
	if me != nil {
		port = fmt.Sprintf("external port %d/%s", me.ext, me.proto)
	}
	deleting := verb == "delete"
	// A UPnP fault is about the action that failed: 718 from
	// GetExternalIPAddress is no port conflict.
	if action := failedAction(cause); action != "" && !mappingAction(action) {
		return fmt.Sprintf("the router refused %s with %s, an answer that does not fit that request", action, codeOf(cause)),
			[]string{
				"its UPnP implementation is confused: try another --method",
				"(`upnpmap discover` lists the ones that answer), or restart the router.",
			}
	}
	switch {
	case me != nil && me.otherHost && !deleting && (errors.Is(cause, upnpmap.ErrNotAuthorized) || errors.Is(cause, upnpmap.ErrUnsupported)):
		return fmt.Sprintf("the router refused to map port %d for another host, %s: it maps only to the host that asks"+
				" (UPnP secure mode, NAT-PMP, or PCP without THIRD_PARTY)", me.ext, me.host),
			[]string{
				fmt.Sprintf("run upnpmap on %s, or use `upnpmap add %d %s --relay`", me.host, me.ext, netip.AddrPortFrom(me.host, me.port)),
				"(maps the port to this machine and relays to that host while it runs).",
			}
	case deleting && errors.Is(cause, upnpmap.ErrNotAuthorized):
		return fmt.Sprintf("the router refused to delete %s (not authorized)", port), []string{
			"routers let only the host that made a mapping delete it (UPnP secure mode; PCP also wants",
			"the nonce of the request that made it): run `upnpmap delete` on that host, or remove it",
			"in the router's settings. It also ends by itself when its lease runs out.",
		}
	case errors.Is(cause, pcp.ErrAddressMismatch):
		return "the PCP server saw the request come from another address than the one it names (ADDRESS_MISMATCH)",
			[]string{
				"either a NAT sits between this host and the router (map on the router in front instead,",
				"with --gateway), or the request left from a wrong source address (a VPN or a second",
				"interface on the way): check the route to the router with `ip route get ROUTER`.",
			}
	case errors.Is(cause, upnpmap.ErrNotAuthorized):
		return "the router refused the mapping (not authorized)", []string{
			"port mapping may be switched off for this host, or the port reserved by the router:",
			"check the router's settings, or try another EXTPORT or --method.",
		}
	case errors.Is(cause, upnpmap.ErrPortInUse):
		return port + " is already mapped on the router (to another host, or by a manual port forward)", []string{
			"choose another EXTPORT, or remove the other mapping",
			"(`upnpmap list` shows UPnP entries; manual forwards are in the router's settings).",
		}
	case errors.Is(cause, upnpmap.ErrNoResources):
		return "the router has no room for another mapping", []string{
			"delete mappings you no longer need (`upnpmap list`, then `upnpmap delete EXTPORT`).",
		}
	case errors.Is(cause, upnpmap.ErrNetworkFailure):
		return "the router reports that its own Internet connection is down", []string{"check the router's WAN link, then try again."}
	case errors.Is(cause, upnpmap.ErrOnlyPermanentLeases):
		return "the router accepts only permanent leases", []string{
			"upnpmap asks for a permanent lease then; remove it with `upnpmap delete EXTPORT` when done.",
		}
	case errors.Is(cause, upnpmap.ErrNoSuchEntry):
		if deleting {
			return "the router has no mapping of " + port, []string{"`upnpmap list` shows what is mapped."}
		}
		return "the router has no such mapping", []string{"`upnpmap list` shows what is mapped."}
	case errors.Is(cause, upnpmap.ErrInvalidArgs):
		if deleting {
			return "the router rejected the delete request's arguments", []string{
				"`upnpmap list` shows the mapping as the router has it; a mapping made by another",
				"method may need that method: try --method pcp, natpmp or upnp.",
			}
		}
		fix := []string{"try another --method (`upnpmap discover` lists the ones that answer)."}
		if me != nil && me.ext != 0 && me.ext < 1024 {
			fix = []string{"many routers refuse external ports below 1024: try an EXTPORT of 1024 or above,", "or another --method."}
		}
		return "the router rejected the request's arguments", fix
	case errors.Is(cause, upnpmap.ErrUnsupported):
		return "the router does not support this request", []string{
			"try another --method (`upnpmap discover` lists the ones that answer).",
		}
	case errors.Is(cause, upnpmap.ErrMalformed):
		return "the router's answer could not be understood", []string{
			"run again with -v to see the exchange, and try another --method.",
		}
	}
	return fmt.Sprintf("the router refused (%s, which upnpmap has no name for)", codeOf(cause)), []string{
		"run again with -v to see the exchange, and try another --method",
		"(`upnpmap discover` lists the ones that answer).",
	}
}

// failedAction is the UPnP action a fault answered ("" for other errors).
// The igd package's error gains a FailedAction method; until then its Action
// field says the same.
func failedAction(err error) string {
	var fa interface{ FailedAction() string }
	if errors.As(err, &fa) {
		return fa.FailedAction()
	}
	var ue *igd.UPnPError
	if errors.As(err, &ue) {
		return ue.Action
	}
	return ""
}

// mappingAction reports whether a UPnP action creates or deletes a mapping,
// the actions whose faults the sentinel advice is written for.
func mappingAction(action string) bool {
	switch action {
	case "AddPortMapping", "AddAnyPortMapping", "DeletePortMapping", "DeletePortMappingRange",
		"GetSpecificPortMappingEntry":
		return true
	}
	return false
}

// codeOf quotes the result code of a refusal: "PCP result code 99",
// "UPnP error 718 (ConflictInMappingEntry)".
func codeOf(err error) string {
	var ne *natpmp.ResultError
	var pe *pcp.ResultError
	var ue *igd.UPnPError
	switch {
	case errors.As(err, &ne):
		return fmt.Sprintf("NAT-PMP result code %d", uint16(ne.Code))
	case errors.As(err, &pe) && pe.Code > pcp.ExcessiveRemotePeers:
		return fmt.Sprintf("PCP result code %d", uint8(pe.Code))
	case errors.As(err, &pe):
		return fmt.Sprintf("PCP result code %d (%s)", uint8(pe.Code), pe.Code)
	case errors.As(err, &ue):
		if name := igd.ErrorName(ue.Code); name != "" {
			return fmt.Sprintf("UPnP error %d (%s)", ue.Code, name)
		}
		return fmt.Sprintf("UPnP error %d", ue.Code)
	}
	return "an error"
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
