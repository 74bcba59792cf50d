package gatewaytest

import (
	"net"
	"net/url"
	"testing"
)

func TestSSDPNotifyChangeConfigAndFixedPortReboot(t *testing.T) {
	g := New(t, Config{})
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g.SetSSDPNotifyTo(c.LocalAddr().(*net.UDPAddr).AddrPort())
	g.SendAlive()
	before := readSSDPNotify(t, c, 3)[0]
	if before.Get("CONFIGID.UPNP.ORG") != "1" {
		t.Fatalf("CONFIGID before: %v", before)
	}

	g.ChangeConfig()
	changed := readSSDPNotify(t, c, 3)[0]
	if changed.Get("CONFIGID.UPNP.ORG") != "2" || changed.Get("BOOTID.UPNP.ORG") != before.Get("BOOTID.UPNP.ORG") || g.ConfigID() != 2 {
		t.Fatalf("after ChangeConfig: %v (ConfigID %d)", changed, g.ConfigID())
	}
	if changed.Get("LOCATION") == before.Get("LOCATION") {
		t.Errorf("LOCATION %s unchanged by ChangeConfig", changed.Get("LOCATION"))
	}
	if conn, err := net.Dial("tcp", hostPort(t, before.Get("LOCATION"))); err == nil {
		conn.Close()
		t.Error("the old HTTP port still accepts after ChangeConfig")
	}

	g.AddMapping(Mapping{ExternalPort: 4444})
	g.SetRebootKeepsPort(true)
	g.Reboot()
	rebooted := readSSDPNotify(t, c, 3)[0]
	if rebooted.Get("BOOTID.UPNP.ORG") != "2" || rebooted.Get("LOCATION") != changed.Get("LOCATION") {
		t.Fatalf("after a fixed-port reboot: %v (before: %v)", rebooted, changed)
	}
	if len(g.Mappings()) != 0 {
		t.Errorf("the table survived the reboot: %v", g.Mappings())
	}
}

// hostPort is the host:port of an http URL.
func hostPort(t *testing.T, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		t.Fatalf("URL %q: %v", u, err)
	}
	return pu.Host
}
