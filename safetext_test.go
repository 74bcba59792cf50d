package upnpmap

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/upnpmap/upnpmap/igd"
)

// TestRouterTextCleanedInErrors: a router's fault whose description is huge
// and full of control and bidi characters reaches the caller's error
// capped and stripped, and errors.Is/As still see the router's error.
func TestRouterTextCleanedInErrors(t *testing.T) {
	f := newFake(UPnP)
	c, _ := fakeClient(t, f)
	evil := "\x1b[2J\u202Egnirts" + strings.Repeat("\u0085A", 30000)
	f.set(func(f *fakeMapper) { f.mapErrs = []error{&igd.UPnPError{Code: 501, Description: evil}} })
	_, err := c.Map(context.Background(), Request{InternalPort: 5800})
	if err == nil {
		t.Fatal("Map succeeded against a failing router")
	}
	msg := err.Error()
	for _, bad := range []string{"\x1b", "\u202E", "\u0085"} {
		if strings.Contains(msg, bad) {
			t.Fatalf("error message carries %q: %.200q", bad, msg)
		}
	}
	if n := len([]rune(msg)); n > 1024 {
		t.Fatalf("error message of %d runes, want at most 1024", n)
	}
	var ue *igd.UPnPError
	if !errors.As(err, &ue) || ue.Code != 501 {
		t.Fatalf("the router's error is not in the chain: %v", err)
	}
}
