package gatewaytest

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"testing"
	"time"
)

// readSSDPNotify reads NOTIFYs from c until n have come (bounded) and
// returns their headers.
func readSSDPNotify(t *testing.T, c *net.UDPConn, n int) []http.Header {
	t.Helper()
	var out []http.Header
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(out) < n {
		k, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("after %d NOTIFYs: %v", len(out), err)
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(buf[:k])))
		if err != nil || req.Method != "NOTIFY" {
			t.Fatalf("not a NOTIFY (%v): %q", err, buf[:k])
		}
		if from.Port() != 1900 {
			t.Errorf("NOTIFY from port %d, want 1900", from.Port())
		}
		out = append(out, req.Header)
	}
	return out
}

func TestSSDPNotifyRebootAndByeBye(t *testing.T) {
	g := New(t, Config{})
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g.SetSSDPNotifyTo(c.LocalAddr().(*net.UDPAddr).AddrPort())

	g.SendAlive()
	before := readSSDPNotify(t, c, 3)
	for _, h := range before {
		if h.Get("NTS") != SSDPAlive || h.Get("BOOTID.UPNP.ORG") != "1" || h.Get("LOCATION") == "" {
			t.Fatalf("alive before reboot: %v", h)
		}
	}
	g.Reboot()
	after := readSSDPNotify(t, c, 3)
	for _, h := range after {
		if h.Get("NTS") != SSDPAlive || h.Get("BOOTID.UPNP.ORG") != "2" {
			t.Fatalf("alive after reboot: %v", h)
		}
	}
	if after[0].Get("LOCATION") == before[0].Get("LOCATION") {
		t.Errorf("LOCATION %s unchanged by the reboot (the HTTP port moves)", after[0].Get("LOCATION"))
	}
	g.SendByeBye()
	for _, h := range readSSDPNotify(t, c, 3) {
		if h.Get("NTS") != SSDPByeBye || h.Get("LOCATION") != "" || h.Get("USN") == "" {
			t.Fatalf("byebye: %v", h)
		}
	}
}
