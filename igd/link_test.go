package igd

import (
	"context"
	"errors"
	"testing"
)

// GetCommonLinkProperties reads the access type and the physical link
// state; the bit rates are not required.
func TestGetCommonLinkProperties(t *testing.T) {
	f := newFake(t, func(action, _ string) answer {
		if action != "GetCommonLinkProperties" {
			return faultReply(401, "Invalid Action")
		}
		return okReply(ServiceWANCommonIFC1, "GetCommonLinkProperties", "NewWANAccessType", "DSL",
			"NewLayer1UpstreamMaxBitRate", "1000000", "NewPhysicalLinkStatus", "Down")
	})
	l, err := f.client(ServiceWANCommonIFC1).GetCommonLinkProperties(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if l.AccessType != "DSL" || l.PhysicalLinkStatus != "Down" || l.Up() {
		t.Errorf("%+v, Up %v", l, l.Up())
	}
	if r := f.last(); r.body != wantRequest(ServiceWANCommonIFC1, "GetCommonLinkProperties") {
		t.Errorf("request body %q", r.body)
	}
}

// A reply without NewPhysicalLinkStatus is malformed, not "link down".
func TestGetCommonLinkPropertiesMissingStatus(t *testing.T) {
	f := newFake(t, func(string, string) answer {
		return okReply(ServiceWANCommonIFC1, "GetCommonLinkProperties", "NewWANAccessType", "Ethernet")
	})
	_, err := f.client(ServiceWANCommonIFC1).GetCommonLinkProperties(context.Background())
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("err %v, want ErrMalformed", err)
	}
}
