package discovery

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// notifyMiniupnpd is an ssdp:alive as miniupnpd 2.3 sends it (its header
// order, OPT/NLS lines and a LOCATION on its LAN address).
const notifyMiniupnpd = "NOTIFY * HTTP/1.1\r\n" +
	"HOST: 239.255.255.250:1900\r\n" +
	"CACHE-CONTROL: max-age=120\r\n" +
	"LOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n" +
	"SERVER: Linux/6.1 UPnP/1.1 MiniUPnPd/2.3.7\r\n" +
	"NT: urn:schemas-upnp-org:service:WANIPConnection:1\r\n" +
	"USN: uuid:00000000-0000-0000-0000-000000000000::urn:schemas-upnp-org:service:WANIPConnection:1\r\n" +
	"NTS: ssdp:alive\r\n" +
	"OPT: \"http://schemas.upnp.org/upnp/1/0/\"; ns=01\r\n" +
	"01-NLS: 1733412000\r\n" +
	"BOOTID.UPNP.ORG: 1733412000\r\n" +
	"CONFIGID.UPNP.ORG: 1337\r\n" +
	"\r\n"

func TestParseNotifyAlive(t *testing.T) {
	from := netip.MustParseAddrPort("192.168.1.1:34567")
	n, err := ParseNotify([]byte(notifyMiniupnpd), from)
	if err != nil {
		t.Fatal(err)
	}
	if n.NTS != NTSAlive || n.NT != "urn:schemas-upnp-org:service:WANIPConnection:1" || !strings.HasPrefix(n.USN, "uuid:") {
		t.Errorf("NTS/NT/USN: %+v", n)
	}
	if !n.HasBootID || n.BootID != 1733412000 || !n.HasConfigID || n.ConfigID != 1337 || n.HasNextBootID {
		t.Errorf("ids: boot %v/%d config %v/%d next %v", n.HasBootID, n.BootID, n.HasConfigID, n.ConfigID, n.HasNextBootID)
	}
	if n.Location.String() != "http://192.168.1.1:5000/rootDesc.xml" || n.MaxAge != 120*time.Second || n.From != from {
		t.Errorf("location %v, max-age %v, from %v", n.Location, n.MaxAge, n.From)
	}
}

func TestParseNotifyPinsLocation(t *testing.T) {
	b := strings.Replace(notifyMiniupnpd, "192.168.1.1:5000", "127.0.0.1:22", 1)
	n, err := ParseNotify([]byte(b), netip.MustParseAddrPort("192.168.1.1:1900"))
	if err != nil {
		t.Fatal(err)
	}
	if n.Location.Hostname() != "192.168.1.1" || n.OriginalLocation != "http://127.0.0.1:22/rootDesc.xml" {
		t.Fatalf("Location %v (original %s): not pinned to the sender", n.Location, n.OriginalLocation)
	}
}

func TestParseNotifyByeByeAndUpdate(t *testing.T) {
	from := netip.MustParseAddrPort("192.168.1.1:1900")
	bye := "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nNTS: ssdp:byebye\r\n" +
		"USN: uuid:x::upnp:rootdevice\r\nBOOTID.UPNP.ORG: 7\r\nCONFIGID.UPNP.ORG: 1\r\n\r\n"
	n, err := ParseNotify([]byte(bye), from)
	if err != nil || n.NTS != NTSByeBye || n.Location != nil || n.BootID != 7 {
		t.Fatalf("byebye: %+v, %v", n, err)
	}
	upd := "NOTIFY * HTTP/1.1\r\nLOCATION: http://192.168.1.1:5000/d.xml\r\nNT: upnp:rootdevice\r\nNTS: ssdp:update\r\n" +
		"USN: uuid:x::upnp:rootdevice\r\nBOOTID.UPNP.ORG: 7\r\nNEXTBOOTID.UPNP.ORG: 8\r\n\r\n"
	n, err = ParseNotify([]byte(upd), from)
	if err != nil || n.NTS != NTSUpdate || !n.HasNextBootID || n.NextBootID != 8 {
		t.Fatalf("update: %+v, %v", n, err)
	}
}

func TestParseNotifyRejects(t *testing.T) {
	from := netip.MustParseAddrPort("192.168.1.1:1900")
	cases := map[string]string{
		"a search":          strings.Replace(notifyMiniupnpd, "NOTIFY * HTTP/1.1", "M-SEARCH * HTTP/1.1", 1),
		"an answer":         strings.Replace(notifyMiniupnpd, "NOTIFY * HTTP/1.1", "HTTP/1.1 200 OK", 1),
		"unknown NTS":       strings.Replace(notifyMiniupnpd, "ssdp:alive", "ssdp:propchange", 1),
		"alive without LOC": strings.Replace(notifyMiniupnpd, "LOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n", "", 1),
		"no USN":            strings.Replace(notifyMiniupnpd, "USN: uuid:", "X-USN: uuid:", 1),
		"duplicate BOOTID":  strings.Replace(notifyMiniupnpd, "\r\n\r\n", "\r\nBOOTID.UPNP.ORG: 2\r\n\r\n", 1),
		"negative BOOTID":   strings.Replace(notifyMiniupnpd, "BOOTID.UPNP.ORG: 1733412000", "BOOTID.UPNP.ORG: -1", 1),
		"32-bit BOOTID":     strings.Replace(notifyMiniupnpd, "BOOTID.UPNP.ORG: 1733412000", "BOOTID.UPNP.ORG: 2147483648", 1),
		"hex CONFIGID":      strings.Replace(notifyMiniupnpd, "CONFIGID.UPNP.ORG: 1337", "CONFIGID.UPNP.ORG: 0x10", 1),
		"https LOCATION":    strings.Replace(notifyMiniupnpd, "LOCATION: http:", "LOCATION: https:", 1),
		"control byte":      strings.Replace(notifyMiniupnpd, "MiniUPnPd", "Mini\x01UPnPd", 1),
		"update no NEXT":    strings.Replace(notifyMiniupnpd, "ssdp:alive", "ssdp:update", 1),
		"no header end":     strings.TrimSuffix(notifyMiniupnpd, "\r\n\r\n"),
	}
	for name, b := range cases {
		if n, err := ParseNotify([]byte(b), from); err == nil || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %+v, %v; want ErrMalformed", name, n, err)
		}
	}
	big := notifyMiniupnpd + strings.Repeat("x", MaxDatagramSize)
	if _, err := ParseNotify([]byte(big), from); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v, want ErrTooLarge", err)
	}
	if _, err := ParseNotify([]byte(notifyMiniupnpd), netip.MustParseAddrPort("239.255.255.250:1900")); err == nil {
		t.Error("a NOTIFY from a multicast address was accepted")
	}
}
