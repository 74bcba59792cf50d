package upnpmap

import (
	"strings"

	"github.com/upnpmap/upnpmap/discovery"
)

// deviceQuirk is a row of docs/QUIRKS.md that names a device, with the
// words that identify the device in its description: every word of one
// alternative must appear in some device's manufacturer or model name (in
// any case). Only rows that name a device are here: a behaviour reported
// of "some routers" says nothing about the one at hand.
type deviceQuirk struct {
	Quirk
	match [][]string
}

var deviceQuirks = []deviceQuirk{
	{Quirk{"Q02", "answers only SSDP searches sent to the multicast group", "the multicast search follows the unicast one"},
		[][]string{{"eero"}}},
	{Quirk{"Q03", "answers SSDP from a source port other than 1900", "any source port of the gateway's address is accepted"},
		[][]string{{"tp-link", "er605"}}},
	{Quirk{"Q24", "rejects a lower-case protocol in AddPortMapping", "the protocol is always sent upper-case"},
		[][]string{{"tp-link", "er605"}}},
	{Quirk{"Q31", "accepts AddPortMapping over a manual port forward, which keeps the port", "every entry is read back; one that forwards elsewhere is ErrPortInUse"},
		[][]string{{"tp-link"}}},
	{Quirk{"Q04", "answers an ssdp:all search with a WFADevice only", "upnpmap searches for the gateway's device and service types by name"},
		[][]string{{"sagemcom"}}},
	{Quirk{"Q07", "serves its description at a link-local IPv6 address", "the responder's zone is kept in the description URL"},
		[][]string{{"avm"}, {"fritz!box"}}},
	{Quirk{"Q38", "fails under concurrent SOAP requests", "one request at a time per gateway"},
		[][]string{{"avm"}, {"fritz!box"}}},
	{Quirk{"Q16", "offers WANPPPConnection:2 as its connection service", "accepted as a connection service"},
		[][]string{{"livebox"}}},
	{Quirk{"Q17", "offers the pre-2015 TR-064 (dslforum) connection services", "those services are accepted"},
		[][]string{{"huawei", "hg531"}}},
	{Quirk{"Q54", "answers only some of PCP, NAT-PMP and UPnP", "each method is used by what answered"},
		[][]string{{"huawei", "hg8145"}, {"cr1000a"}}},
	{Quirk{"Q18", "may offer two WAN connections, one disconnected, and report the good one as Up", "the connected service is chosen"},
		[][]string{{"mikrotik"}}},
	{Quirk{"Q35", "piles up permanent rules when GetExternalIPAddress fails after AddPortMapping", "the address is asked first, so a failure leaves nothing behind"},
		[][]string{{"mikrotik"}}},
	{Quirk{"Q32", "silently drops mappings after 32 entries", "each new entry is read back; a missing one is Lost"},
		[][]string{{"linksys"}}},
	{Quirk{"Q33", "purges its UPnP table every 600 s", "UPnP mappings are checked every PollInterval and re-created"},
		[][]string{{"asus"}}},
	{Quirk{"Q34", "keeps a mapping listed that no longer forwards", "not detected by the router's answers: check from outside (upnpmap check, Mapping.Verify)"},
		[][]string{{"technicolor"}}},
	{Quirk{"Q66", "answers 718 (not 606) in secure mode for a mapping to another host", "the entry is read back to tell secure mode from a conflict"},
		[][]string{{"miniupnp"}}},
	{Quirk{"Q71", "stalls every client for about 45 s after a NAT-PMP or PCP request for a port its rules deny", "such a request is sent once and not repeated"},
		[][]string{{"miniupnp"}}},
	{Quirk{"Q72", "moves its description and control URLs to a new port after a restart", "a refused control URL leads to a new search"},
		[][]string{{"miniupnp"}}},
}

// quirksFor returns the catalogue's rows that name a device of root.
func quirksFor(root *discovery.Root) []Quirk {
	var names []string
	for _, dev := range root.Devices() {
		names = append(names, strings.ToLower(dev.Manufacturer+" "+dev.ModelName+" "+dev.FriendlyName))
	}
	var out []Quirk
	for _, q := range deviceQuirks {
		if matchesAny(names, q.match) {
			out = append(out, q.Quirk)
		}
	}
	return out
}

func matchesAny(names []string, alts [][]string) bool {
	for _, words := range alts {
		for _, n := range names {
			all := true
			for _, w := range words {
				all = all && strings.Contains(n, w)
			}
			if all {
				return true
			}
		}
	}
	return false
}
