//go:build linux

package labtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// TestSSDPNotifyRouterRestart: miniupnpd restarts (a new BOOTID.UPNP.ORG, a
// new HTTP port, an empty table) and multicasts its ssdp:alive. A UPnP
// mapping whose client neither polls (every hour) nor hears the NAT-PMP and
// PCP announcements learns of the restart from the NOTIFY alone: it reports
// Lost, then Restored, and the port forwards again. The time from the
// restart's start to Restored is logged.
func TestSSDPNotifyRouterRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	lab := newLab(t, ctx, netlab.Options{})
	const port = 25400
	startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, port))
	p := startClient(t, ctx, lab, netlab.LAN1, "upnp-ssdp", "map", "-methods", "upnp", "-port", fmt.Sprint(port),
		"-poll", "1h", "-announce", "127.0.0.1:0", "-desc", "labtest ssdp")
	ext := parseAddrPort(t, "External()", p.mapped(15*time.Second).External)
	waitProcLog(t, p, "listening for SSDP NOTIFY", 15*time.Second)

	start := time.Now()
	if err := lab.RestartRouter(ctx); err != nil {
		t.Fatal(err)
	}
	lost := p.next(20*time.Second, "a Lost event", isEvent("Lost"))
	restored := p.next(20*time.Second, "a Restored event", isEvent("Restored"))
	if restored.External != ext.String() {
		t.Errorf("Restored %s; want the same %v", restored.External, ext)
	}
	// Was the restart learned from an SSDP NOTIFY? The log (stderr) comes
	// through another pipe than the events and may lag them a little.
	waitProcLog(t, p, "gateway SSDP notification", 5*time.Second)
	wantReachable(t, ctx, lab, "tcp", ext, netlab.LAN1)
	summary := fmt.Sprintf("SSDP NOTIFY: router restart; Lost after %v, Restored after %v",
		lost.At.Sub(start).Round(time.Millisecond), restored.At.Sub(start).Round(time.Millisecond))
	t.Log(summary)
	fmt.Println("labtest:", summary)
	for _, line := range strings.Split(p.log.String(), "\n") {
		if strings.Contains(line, "SSDP notification") {
			t.Log(line)
		}
	}
}
