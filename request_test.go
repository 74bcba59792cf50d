package upnpmap

import (
	"errors"
	"net/netip"
	"testing"
)

func TestRequestNormalize(t *testing.T) {
	local := netip.MustParseAddr("192.168.1.10")
	q, err := Request{InternalPort: 8080}.normalize(local)
	if err != nil {
		t.Fatal(err)
	}
	if q.proto != TCP || q.wish != 8080 || q.lifetime != DefaultLifetime || q.description != DefaultDescription ||
		q.internal != netip.MustParseAddrPort("192.168.1.10:8080") || q.thirdParty {
		t.Fatalf("%+v", q)
	}
	q, _ = Request{Protocol: "UDP", InternalPort: 53, ExternalPort: 5353, InternalAddr: netip.MustParseAddr("192.168.1.20")}.normalize(local)
	if q.proto != UDP || q.wish != 5353 || !q.thirdParty || q.internal.Addr() != netip.MustParseAddr("192.168.1.20") {
		t.Fatalf("%+v", q)
	}
	for _, s := range []string{"pcp", "NAT-PMP", "upnp"} {
		if _, err := ParseMethod(s); err != nil {
			t.Errorf("ParseMethod(%q): %v", s, err)
		}
	}
	if _, err := ParseMethod("smtp"); !errors.Is(err, ErrInvalidArgs) {
		t.Error("ParseMethod accepted smtp")
	}
}
