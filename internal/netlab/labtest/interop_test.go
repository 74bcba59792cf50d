//go:build linux

package labtest

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// TestUpnpcListsOurMappings: miniupnpc's `upnpc -l`, run in the LAN host,
// lists the UPnP mappings the library made with their descriptions, and the
// NAT-PMP one under the name miniupnpd gives it.
func TestUpnpcListsOurMappings(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	lab := newLab(t, ctx, netlab.Options{}, "upnpc")
	lan1 := lab.Addr(netlab.LAN1).String()

	type want struct {
		method, proto string
		port          uint16
		desc          string // what upnpc shows
	}
	wants := []want{
		{"upnp", "tcp", 26000, "labtest interop tcp"},
		{"upnp", "udp", 26001, "labtest interop udp"},
		{"natpmp", "tcp", 26002, "NAT-PMP 26002 tcp"}, // miniupnpd's name for NAT-PMP mappings
	}
	var procs []*proc
	for _, w := range wants {
		procs = append(procs, startClient(t, ctx, lab, netlab.LAN1, fmt.Sprintf("%s-%d", w.method, w.port), "map",
			"-methods", w.method, "-proto", w.proto, "-port", strconv.Itoa(int(w.port)), "-desc", w.desc))
	}
	for _, p := range procs {
		p.mapped(15 * time.Second)
	}

	out, err := lab.Exec(ctx, netlab.LAN1, "upnpc", "-l")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("upnpc -l:\n%s", indent(out))
	for _, w := range wants {
		// e.g. " 0 TCP 26000->192.168.77.10:26000 'labtest interop tcp' '' 7199"
		re := regexp.MustCompile(fmt.Sprintf(`(?m)^\s*\d+\s+%s\s+%d->%s:%d\s+'%s'`,
			map[string]string{"tcp": "TCP", "udp": "UDP"}[w.proto], w.port, regexp.QuoteMeta(lan1), w.port, regexp.QuoteMeta(w.desc)))
		if !re.MatchString(out) {
			t.Errorf("upnpc -l does not list our %s %s %d mapping as %q (pattern %s)", w.method, w.proto, w.port, w.desc, re)
		}
	}
}
