//go:build linux

package netlab

import (
	"net/netip"
	"strings"
	"testing"
)

func renderConf(o Options) string {
	return miniupnpdConf(routerConfig{opts: o, wanIf: "wan0", lanIf: "br0", httpPort: 5000,
		stunHost: "1.2.3.1", stunPort: 3478, lanNet: "192.168.77.0/24"})
}

func TestMiniupnpdConfDefaults(t *testing.T) {
	conf := renderConf(Options{})
	for _, want := range []string{
		"ext_ifname=wan0", "listening_ip=br0", "http_port=5000",
		"enable_upnp=yes", "enable_natpmp=yes", "secure_mode=yes",
		"ext_perform_stun=yes", "ext_stun_host=1.2.3.1", "ext_stun_port=3478",
		"min_lifetime=120", "upnp_table_name=filter", "upnp_forward_chain=miniupnpd",
		"upnp_nat_chain=prerouting_miniupnpd", "upnp_nat_postrouting_chain=postrouting_miniupnpd",
	} {
		if !strings.Contains(conf, "\n"+want+"\n") {
			t.Errorf("config lacks line %q:\n%s", want, conf)
		}
	}
	// Options 2.3.1 does not know are fatal to it.
	for _, bad := range []string{"enable_pcp_pmp", "ext_allow_private_ipv4", "force_igd_desc_v1"} {
		if strings.Contains(conf, bad) {
			t.Errorf("config has %q:\n%s", bad, conf)
		}
	}
	lines := strings.Split(strings.TrimSpace(conf), "\n")
	if last := lines[len(lines)-1]; last != "deny 0-65535 0.0.0.0/0 0-65535" {
		t.Errorf("last line %q, want the final deny", last)
	}
}

func TestMiniupnpdConfKnobs(t *testing.T) {
	conf := renderConf(Options{InsecureMode: true, DisableNATPMP: true, IGDv1: true,
		PCPAllowThirdParty: true, ExtraConfig: []string{"notify_interval=30"}})
	for _, want := range []string{"secure_mode=no", "enable_natpmp=no", "force_igd_desc_v1=yes",
		"pcp_allow_thirdparty=yes", "notify_interval=30"} {
		if !strings.Contains(conf, "\n"+want+"\n") {
			t.Errorf("config lacks line %q:\n%s", want, conf)
		}
	}
	if strings.Index(conf, "notify_interval=30") > strings.Index(conf, "\nallow ") {
		t.Errorf("ExtraConfig after the permission rules:\n%s", conf)
	}
}

func TestOptionsFill(t *testing.T) {
	var o Options
	if err := o.fill(); err != nil {
		t.Fatal(err)
	}
	if o.WANAddr != netip.MustParseAddr("1.2.3.4") || o.HTTPPort != 5000 || o.BuildTimeout <= 0 {
		t.Fatalf("defaults: %+v", o)
	}
	bad := []Options{
		{DisableNATPMP: true, DisableUPnP: true},
		{WANAddr: netip.MustParseAddr("1.2.3.1")},   // the WAN host
		{WANAddr: netip.MustParseAddr("1.2.3.2")},   // the STUN alternate address
		{WANAddr: netip.MustParseAddr("1.2.3.255")}, // broadcast
		{WANAddr: netip.MustParseAddr("10.0.0.4")},  // outside the WAN net (and reserved)
		{WANAddr: netip.MustParseAddr("::1")},
		{ExtraConfig: []string{"a=b\nc=d"}},
	}
	for _, o := range bad {
		if err := o.fill(); err == nil {
			t.Errorf("fill accepted %+v", o)
		}
	}
	good := Options{WANAddr: netip.MustParseAddr("1.2.3.254")}
	if err := good.fill(); err != nil {
		t.Errorf("fill refused 1.2.3.254: %v", err)
	}
}

func TestNftRulesetNames(t *testing.T) {
	rs := nftRuleset("wan0", "br0")
	for _, want := range []string{"table inet filter", "chain miniupnpd", "chain prerouting_miniupnpd",
		"chain postrouting_miniupnpd", "jump miniupnpd", "jump prerouting_miniupnpd",
		"jump postrouting_miniupnpd", `oifname "wan0" masquerade`, "policy drop"} {
		if !strings.Contains(rs, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, rs)
		}
	}
}
