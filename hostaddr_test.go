package upnpmap

import (
	"errors"
	"net/netip"
	"testing"
)

// A Linux host with SLAAC and privacy extensions: the stable global address
// is the one chosen, not the temporary (flag 01), the deprecated (20), the
// unique-local or the link-local one.
const ifInet6Sample = `fe800000000000000000000000000001 02 40 20 80     eth0
20010db8000100000000000000000099 02 40 00 01     eth0
20010db80001000000000000000000aa 02 40 00 20     eth0
fd000000000000000000000000000020 02 40 00 80     eth0
20010db8000100000000000000000020 02 40 00 00     eth0
00000000000000000000000000000001 01 80 10 80       lo
`

func TestParseIfInet6PicksStable(t *testing.T) {
	addrs, err := parseIfInet6([]byte(ifInet6Sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 6 || !addrs[1].temporary || !addrs[2].unusable {
		t.Fatalf("parsed %+v", addrs)
	}
	got, ok := pickStable(addrs)
	if want := netip.MustParseAddr("2001:db8:1::20"); !ok || got != want {
		t.Errorf("stable address %v %v, want %v", got, ok, want)
	}
}

func TestParseIfInet6Malformed(t *testing.T) {
	for _, in := range []string{
		"2001 02 40 00 00 eth0",
		"zz010db8000100000000000000000020 02 40 00 00 eth0",
		"20010db8000100000000000000000020 02 40 00 xx eth0",
		"20010db8000100000000000000000020 02 40 00",
	} {
		if _, err := parseIfInet6([]byte(in)); !errors.Is(err, errIfInet6) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func FuzzParseIfInet6(f *testing.F) {
	f.Add([]byte(ifInet6Sample))
	f.Fuzz(func(t *testing.T, b []byte) {
		addrs, err := parseIfInet6(b)
		if err != nil {
			return
		}
		if a, ok := pickStable(addrs); ok && (!a.Is6() || ulaPrefix.Contains(a) || a.IsLinkLocalUnicast()) {
			t.Errorf("picked %v", a)
		}
	})
}
