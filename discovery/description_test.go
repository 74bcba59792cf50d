package discovery

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

var gw = netip.MustParseAddr("192.168.1.1")

func parseTestDesc(t *testing.T, doc, location string) *Root {
	t.Helper()
	root, err := ParseDescription([]byte(doc), mustURL(t, location), gw)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestParseDescriptionNestedDevices(t *testing.T) {
	root := parseTestDesc(t, igdDescription, "http://192.168.1.1:5000/rootDesc.xml")
	var types []string
	for _, d := range root.Devices() {
		types = append(types, d.DeviceType[strings.LastIndex(d.DeviceType, ":device:")+8:])
	}
	if got := strings.Join(types, ","); got != "InternetGatewayDevice:2,WANDevice:2,WANConnectionDevice:2" {
		t.Errorf("device tree %s", got)
	}
	if n := len(root.Services()); n != 4 {
		t.Errorf("%d services, want 4", n)
	}
	wcd := root.Device.Devices[0].Devices[0]
	if wcd.FriendlyName != "WANConnectionDevice" || len(wcd.Services) != 2 {
		t.Errorf("third level %+v", wcd)
	}
	if root.URLBase != nil {
		t.Errorf("URLBase %v, want nil", root.URLBase)
	}
}

// Services honours the caller's preference order, not the document's.
func TestServicesPreferenceOrder(t *testing.T) {
	doc := `<root><device><serviceList>
<service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType><controlURL>/ppp</controlURL></service>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/ip1</controlURL></service>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL></controlURL></service>
</serviceList><deviceList><device><serviceList>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><controlURL>/ip2</controlURL></service>
</serviceList></device></deviceList></device></root>`
	root := parseTestDesc(t, doc, "http://192.168.1.1:5000/d.xml")
	got := root.Services(
		"urn:schemas-upnp-org:service:WANIPConnection:2",
		"urn:schemas-upnp-org:service:WANIPConnection:1",
		"urn:schemas-upnp-org:service:WANPPPConnection:1")
	var paths []string
	for _, s := range got {
		paths = append(paths, s.ControlURL.Path)
	}
	// The service with an empty controlURL is unusable and left out.
	if strings.Join(paths, ",") != "/ip2,/ip1,/ppp" {
		t.Errorf("order %v", paths)
	}
	if len(root.Services("urn:example:none")) != 0 {
		t.Error("unknown type matched")
	}
	var nilRoot *Root
	if nilRoot.Services() != nil {
		t.Error("nil root")
	}
}

func TestParseDescriptionURLBase(t *testing.T) {
	doc := `<root><URLBase>http://10.0.0.99:49000/upnp/</URLBase><device><serviceList>
<service><serviceType>a</serviceType><controlURL>control/wanip</controlURL><SCPDURL>/abs.xml</SCPDURL><eventSubURL>http://203.0.113.5:8080/evt</eventSubURL></service>
</serviceList></device></root>`
	root := parseTestDesc(t, doc, "http://192.168.1.1:5000/rootDesc.xml")
	if root.URLBase.String() != "http://192.168.1.1:49000/upnp/" {
		t.Errorf("URLBase %s (its host must be pinned, its port kept)", root.URLBase)
	}
	s := root.Device.Services[0]
	if s.ControlURL.String() != "http://192.168.1.1:49000/upnp/control/wanip" {
		t.Errorf("relative to URLBase: %s", s.ControlURL)
	}
	if s.SCPDURL.String() != "http://192.168.1.1:49000/abs.xml" {
		t.Errorf("absolute path: %s", s.SCPDURL)
	}
	if s.EventSubURL.String() != "http://192.168.1.1:8080/evt" {
		t.Errorf("foreign absolute URL: %s", s.EventSubURL)
	}

	// Without URLBase the LOCATION is the base; a bad URLBase is ignored.
	for _, base := range []string{"", "<URLBase>ftp://x/</URLBase>", "<URLBase>not a url %%</URLBase>"} {
		doc := `<root>` + base + `<device><serviceList><service><serviceType>a</serviceType><controlURL>ctl</controlURL></service></serviceList></device></root>`
		root := parseTestDesc(t, doc, "http://192.168.1.1:5000/desc/root.xml")
		if got := root.Device.Services[0].ControlURL.String(); got != "http://192.168.1.1:5000/desc/ctl" {
			t.Errorf("base %q: %s", base, got)
		}
	}
}

func TestParseDescriptionCharsets(t *testing.T) {
	latin1 := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><root><device><friendlyName>Bo\xeete \xe0 Fibre</friendlyName></device></root>"
	root := parseTestDesc(t, latin1, "http://192.168.1.1/d.xml")
	if root.Device.FriendlyName != "Boîte à Fibre" {
		t.Errorf("Latin-1: %q", root.Device.FriendlyName)
	}
	ascii := `<?xml version="1.0" encoding="US-ASCII"?><root><device><friendlyName>Router</friendlyName></device></root>`
	if root := parseTestDesc(t, ascii, "http://192.168.1.1/d.xml"); root.Device.FriendlyName != "Router" {
		t.Errorf("ASCII: %q", root.Device.FriendlyName)
	}
	utf8 := `<?xml version="1.0" encoding="utf-8"?><root><device><friendlyName>Box 日本</friendlyName></device></root>`
	if root := parseTestDesc(t, utf8, "http://192.168.1.1/d.xml"); root.Device.FriendlyName != "Box 日本" {
		t.Errorf("UTF-8: %q", root.Device.FriendlyName)
	}
	sjis := `<?xml version="1.0" encoding="Shift_JIS"?><root><device><friendlyName>x</friendlyName></device></root>`
	if _, err := ParseDescription([]byte(sjis), mustURL(t, "http://192.168.1.1/d.xml"), gw); !errors.Is(err, ErrMalformed) {
		t.Errorf("Shift_JIS: %v, want ErrMalformed", err)
	}
}

func TestParseDescriptionRejects(t *testing.T) {
	deep := "<root>" + strings.Repeat("<device><deviceList>", 10) + strings.Repeat("</deviceList></device>", 10) + "</root>"
	wide := "<root><device><deviceList>" + strings.Repeat("<device></device>", 70) + "</deviceList></device></root>"
	manySvc := "<root><device><serviceList>" + strings.Repeat("<service><serviceType>x</serviceType></service>", 300) + "</serviceList></device></root>"
	cases := map[string]string{
		"empty":           "",
		"not xml":         "hello",
		"no device":       "<root><specVersion><major>1</major></specVersion></root>",
		"wrong root":      "<scpd><device></device></scpd>",
		"truncated":       igdDescription[:len(igdDescription)/2],
		"too deep":        deep,
		"too many devs":   wide,
		"too many svcs":   manySvc,
		"unclosed entity": "<root><device><friendlyName>&bogus;</friendlyName></device></root>",
	}
	for name, doc := range cases {
		_, err := ParseDescription([]byte(doc), mustURL(t, "http://192.168.1.1/d.xml"), gw)
		if !errors.Is(err, ErrMalformed) || !errors.Is(err, ErrUnusableDevice) {
			t.Errorf("%s: %v, want ErrMalformed and ErrUnusableDevice", name, err)
		}
	}
	if _, err := ParseDescription([]byte(igdDescription), mustURL(t, "http://192.168.1.1/d.xml"), netip.Addr{}); !errors.Is(err, ErrInvalidArgs) {
		t.Errorf("zero responder: %v", err)
	}
	// Eight levels are fine.
	ok := "<root>" + strings.Repeat("<device><deviceList>", 8) + strings.Repeat("</deviceList></device>", 8) + "</root>"
	if _, err := ParseDescription([]byte(ok), mustURL(t, "http://192.168.1.1/d.xml"), gw); err != nil {
		t.Errorf("8 levels: %v", err)
	}
}

func TestParseDescriptionBoundsText(t *testing.T) {
	doc := "<root><device><friendlyName>" + strings.Repeat("é", 2000) + "</friendlyName></device></root>"
	root := parseTestDesc(t, doc, "http://192.168.1.1/d.xml")
	if n := len(root.Device.FriendlyName); n > maxTextField || n < maxTextField-4 {
		t.Errorf("friendlyName length %d", n)
	}
	if !strings.HasSuffix(root.Device.FriendlyName, "é") {
		t.Error("cut inside a rune")
	}
}
