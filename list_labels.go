package upnpmap

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// sameAsUPnPEntry returns the index in entries of the UPnP table entry that
// is the live PCP or NAT-PMP mapping m (granted g) under the label miniupnpd
// gives such mappings, or -1. A PCP entry must carry m's nonce; a NAT-PMP
// entry, which carries no nonce, must forward the same external port and
// protocol to m's internal address and port — the one mapping NAT-PMP keys
// by this host's internal port.
func sameAsUPnPEntry(entries []Entry, m *Mapping, g *grant) int {
	method := m.Method()
	if method != PCP && method != NATPMP {
		return -1
	}
	for i, e := range entries {
		if e.Method != UPnP || e.Ours || e.Protocol != m.q.proto || e.External.Port() != g.external.Port() {
			continue
		}
		switch method {
		case PCP:
			if pcpLabelHasNonce(e.Description, g.nonce) {
				return i
			}
		case NATPMP:
			label := fmt.Sprintf("NAT-PMP %d %s", g.external.Port(), strings.ToLower(string(m.q.proto)))
			if strings.EqualFold(e.Description, label) && e.Internal == g.internal {
				return i
			}
		}
	}
	return -1
}

// pcpLabelHasNonce says whether description is miniupnpd's label of a PCP
// MAP with nonce. miniupnpd prints the nonce as three 32-bit words read in
// the router's byte order ("%08x" each), so a little-endian router shows
// each word's bytes reversed: both spellings are accepted.
func pcpLabelHasNonce(description string, nonce [12]byte) bool {
	hexNonce, ok := strings.CutPrefix(description, "PCP MAP ")
	if !ok {
		return false
	}
	var swapped strings.Builder
	for w := 0; w < len(nonce); w += 4 {
		fmt.Fprintf(&swapped, "%08x", binary.LittleEndian.Uint32(nonce[w:w+4]))
	}
	return strings.EqualFold(hexNonce, fmt.Sprintf("%x", nonce[:])) || strings.EqualFold(hexNonce, swapped.String())
}
