package upnpmap

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
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

// TestRouterTextCleanedInLogs: the same hostile fault text reaches the
// Client's log (a JSON handler, which leaves C1 and bidi characters raw)
// capped and stripped too: every log line that carries it went through
// safetext.
func TestRouterTextCleanedInLogs(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
	var logs syncBuffer
	c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gw.FailActionText("*", 501, gatewaytest.HostileText+strings.Repeat(" action failed", 4000))
	if _, err := c.Map(context.Background(), Request{InternalPort: 5801}); err == nil {
		t.Fatal("Map succeeded against a router that fails every action")
	}
	out := logs.String()
	if !strings.Contains(out, "txt.exe") {
		t.Fatalf("the router's text never reached the log; the test proves nothing:\n%.2000s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.ContainsAny(line, "\u009b\u0085\u202e\u2066") {
			t.Errorf("raw control or bidi character in a log line: %.300q", line)
		}
		if len(line) > 8000 {
			t.Errorf("log line of %d bytes: router text not capped", len(line))
		}
	}
}
