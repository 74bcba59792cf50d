// Package upnpmap opens ports on home routers and keeps them open. It speaks
// the three protocols routers offer — PCP (RFC 6887), NAT-PMP (RFC 6886) and
// UPnP IGD (WANIPConnection 1 and 2, WANPPPConnection 1) — behind one call:
//
//	m, err := upnpmap.Map(ctx, upnpmap.Request{
//		Protocol:     upnpmap.TCP,
//		InternalPort: 8080,
//		ExternalPort: 80, // a wish; the router may grant another port
//		Description:  "my web app",
//	})
//	if err != nil {
//		// errors.Is(err, upnpmap.ErrNoGateway), ErrPortInUse, ErrNotAuthorized …
//		return err
//	}
//	defer m.Close() // deletes the mapping on the router
//	fmt.Println("reachable at", m.External(), "via", m.Method())
//	for ev := range m.Events() {
//		// Renewed, ExternalAddressChanged, Lost, Restored, Failed
//		log.Print(ev)
//	}
//
// # Probing
//
// Discover probes the gateway with all methods at once — a PCP ANNOUNCE, a
// NAT-PMP external address request, an SSDP search unicast to the gateway —
// and returns as soon as the answers are in: immediately when every method
// answered (or failed for good), a short grace after the first answer
// otherwise (SSDP responders delay their answers on purpose), after
// Client.ProbeTimeout when nothing answers. UPnP's
// description fetch, once the SSDP answer is in, is bounded by
// Client.RequestTimeout instead. The result names the methods that
// answered, the external address (flagging a private or CGNAT one: double
// NAT), and the UPnP device. A Client remembers it, and the UPnP control
// URL, for a while (see Client.Discover); a method that missed the grace is asked again,
// alone, when Map needs to fall back to it (or List, ExternalAddr need it).
//
// The first Map of a Client probes too, but for one method, not the list:
// the first method's probe leads straight to the mapping where it can (PCP:
// the MAP request itself; NAT-PMP: its external address request, then the
// MAP; the others' probes follow after a short head start, or at once if it
// fails), and
// the probe ends as soon as the best method still possible has answered.
// With the default order, a router that maps by PCP is asked one MAP
// request and nothing else; NAT-PMP costs its external address request and
// the MAP; UPnP the SSDP search (unicast to the gateway, multicast too if it
// has not answered at once), the description, GetExternalIPAddress and
// AddPortMapping.
//
// # Mapping and renewal
//
// Map tries the methods that answered in the Client's order (PCP, NAT-PMP,
// UPnP by default) and falls back to the next on failure. It honours what the
// gateway grants: the external port (unless Request.ExactPort) and the
// lifetime. UPnP gets the care real routers need: the external address is
// read before a permanent entry is made, 725 (only permanent leases) is
// retried with lease 0 and such an entry is deleted on Close, 718/729
// (conflict) moves to AddAnyPortMapping or the next ports, and every entry is
// read back with GetSpecificPortMappingEntry — a new one by the mapping's
// goroutine once Map has returned (a gateway that does not hold it makes the
// mapping Lost, and it is restored). A 718 to a mapping for another
// host whose port nobody holds is UPnP secure mode refusing the host
// (miniupnpd answers so, not 606): ErrNotAuthorized, no other port tried.
//
// Each Mapping has a goroutine that renews it: PCP at the times of RFC 6887
// §11.2.1 (a random point in 1/2–5/8 of the lifetime, then 3/4, 7/8 … while
// unanswered, never closer than the RFC's minimum gap), NAT-PMP and UPnP at half the granted
// lifetime, always suggesting the granted port (and the PCP nonce). It
// re-creates the mapping when the gateway loses it — an epoch reset in a
// NAT-PMP or PCP answer, an announcement on 224.0.0.1:5350, a UPnP control
// URL that moved, or an entry missing when UPnP mappings are checked (every
// Client.PollInterval and before each renewal) — and reports a new external
// address. All of it arrives as Events. Calls to one gateway are serialised
// across all mappings of a Client.
//
// An epoch reset seen through either PCP or NAT-PMP (in any answer or
// announcement) counts for the whole gateway: the mappings of both are
// re-created at once and UPnP mappings are checked. Announcements of either
// protocol are read whichever methods are enabled (miniupnpd announces its
// start with a PCP ANNOUNCE alone). Any LAN host can send one with the
// gateway's address, so an announcement is a hint: each burst of them is
// confirmed once, by one unicast request to the gateway (NAT-PMP's external
// address request, or a PCP ANNOUNCE) after RFC 6887's random delay; then
// every mapping renews or checks at once, or is re-created when the
// confirmation shows a reset. The epoch check allows the RFCs' slack, so it
// needs as much history: a gateway whose epoch was still within that slack
// when we last heard from it and that restarts at once looks unchanged; the
// renewal re-creates the mapping anyway (reported as Renewed, not Restored).
//
// While a UPnP mapping lives, the Client also listens to the router itself:
// GENA events of the connection service (a new ExternalIPAddress) on a
// callback bound to the LAN address facing it, and the router's SSDP
// NOTIFYs on 239.255.255.250:1900 joined on the interface facing it only.
// Both are accepted only from the router's address and bounded. An
// ssdp:byebye makes the mappings check the router at once; a new
// BOOTID.UPNP.ORG or LOCATION (a restart) makes the Client read the
// description again and re-create what is gone (Lost, then Restored); a new
// CONFIGID.UPNP.ORG makes it read the description again. A burst of NOTIFYs
// costs one check. Polling stays the fallback.
//
// # Robustness
//
// Whatever a router or a LAN host says, a Client cannot storm a router:
// every exchange with one gateway passes a governor (a burst of 10
// exchanges, then 2 per second; the first Map and the Close of each mapping
// are exempt).
// Resets are coalesced per gateway — one reset re-creates each mapping once
// — and resets that keep coming are backed off exponentially, up to the
// renewal interval, and reported once as Unstable. A signal only ever brings a
// renewal earlier. A NAT-PMP or PCP request the gateway denied is not sent
// again for a while (miniupnpd stalls for everyone on one). Router text
// reaches errors, events and logs capped and stripped of control and bidi
// characters.
//
// Close deletes the mapping within Client.CloseTimeout and stops the
// goroutine; Detach stops renewing and leaves the mapping on the router for
// another process to delete (Client.Delete with Mapping.DeleteRequest).
//
// # Configuration
//
// The zero Client works: it finds the gateway in the routing table and stays
// silent. Set Client.Gateway to skip the routing table (SSDP then multicasts
// only on the interface facing it),
// Client.Methods to restrict the methods, Client.Logger (a *slog.Logger) to
// see what happens. The package-level Map, Discover and ExternalAddr use a
// zero Client.
package upnpmap
