package discovery

import (
	"errors"
	"strings"
	"testing"
)

func TestUsableNamesWhatIsOffered(t *testing.T) {
	doc := `<root><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>` +
		"<friendlyName>Evil\u202E\x1b[2J Box</friendlyName><modelName>X1</modelName>" +
		`<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/l3f</controlURL></service></serviceList>` +
		`<deviceList><device><deviceType>urn:dslforum-org:device:WANDevice:1</deviceType>` +
		`<serviceList><service><serviceType>urn:dslforum-org:service:WANDSLLinkConfig:1</serviceType><controlURL>/dsl</controlURL></service></serviceList>` +
		`</device></deviceList></device></root>`
	doc = strings.Replace(doc, "\x1b", "&#x9B;", 1) // XML carries C1, not C0, controls
	root := parseTestDesc(t, doc, "http://192.168.1.1/d.xml")
	svcs, err := root.Usable("urn:schemas-upnp-org:service:WANIPConnection:1")
	if len(svcs) != 0 || !errors.Is(err, ErrUnusableDevice) {
		t.Fatalf("%d services, %v", len(svcs), err)
	}
	want := "Evil[2J Box X1 offers InternetGatewayDevice:1 [Layer3Forwarding:1]; dslforum-org:WANDevice:1 [dslforum-org:WANDSLLinkConfig:1]"
	if got := root.Offered(); got != want {
		t.Errorf("Offered() = %q\nwant        %q", got, want)
	}
	if !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error %q does not name what is offered", err)
	}
	svcs, err = root.Usable("urn:schemas-upnp-org:service:Layer3Forwarding:1")
	if err != nil || len(svcs) != 1 {
		t.Errorf("a present type: %d, %v", len(svcs), err)
	}
}

func TestOfferedIsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("<root><device><friendlyName>Big</friendlyName><serviceList>")
	for i := 0; i < 200; i++ {
		b.WriteString("<service><serviceType>urn:example-com:service:Something" + strings.Repeat("x", 50) + ":1</serviceType></service>")
	}
	b.WriteString("</serviceList></device></root>")
	root := parseTestDesc(t, b.String(), "http://192.168.1.1/d.xml")
	if n := len([]rune(root.Offered())); n > 1024 {
		t.Errorf("Offered() is %d runes", n)
	}
	var nilRoot *Root
	if nilRoot.Offered() == "" {
		t.Error("nil root")
	}
}
