package igd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/upnpmap/upnpmap/internal/errs"
)

// statusFake answers GetStatusInfo with status, or with a fault when code is
// not 0.
func statusFake(t *testing.T, status string, code int) *fakeRouter {
	return newFake(t, func(action, _ string) answer {
		if code != 0 {
			return faultReply(code, "nope")
		}
		return okReply(ServiceWANIP1, action, "NewConnectionStatus", status, "NewLastConnectionError", "ERROR_NONE", "NewUptime", "7")
	})
}

func TestChooseOneCandidateSendsNothing(t *testing.T) {
	f := statusFake(t, "Disconnected", 0)
	only := f.client(ServiceWANIP1)
	cl, st, err := Choose(context.Background(), []*Client{only})
	if err != nil || cl != only || st != nil {
		t.Fatalf("got %v %v %v", cl, st, err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests for a single candidate", n)
	}
}

func TestChoosePrefersConnected(t *testing.T) {
	for _, up := range []string{"Connected", "Up", "up", " connected "} {
		down := statusFake(t, "Disconnected", 0)
		conn := statusFake(t, up, 0)
		third := statusFake(t, "Connected", 0)
		cl, st, err := Choose(context.Background(), []*Client{down.client(ServiceWANIP1), conn.client(ServiceWANIP1), third.client(ServiceWANIP1)})
		if err != nil {
			t.Fatal(err)
		}
		if cl.ControlURL.String() != conn.client(ServiceWANIP1).ControlURL.String() || st == nil || !st.Connected() {
			t.Errorf("%q: chose %v (%+v)", up, cl.ControlURL, st)
		}
		// It stops at the first connected one.
		if n := len(down.requests()) + len(conn.requests()) + len(third.requests()); n != 2 {
			t.Errorf("%q: %d requests, want 2", up, n)
		}
	}
}

func TestChooseNoneConnected(t *testing.T) {
	broken := statusFake(t, "", CodeInvalidAction)
	down := statusFake(t, "Disconnected", 0)
	cl, st, err := Choose(context.Background(), []*Client{broken.client(ServiceWANIP1), down.client(ServiceWANPPP1)})
	if err != nil || cl.ServiceType != ServiceWANPPP1 || st == nil || st.ConnectionStatus != "Disconnected" {
		t.Fatalf("got %v %+v %v; want the one that answered", cl, st, err)
	}
	// Nobody answers: the most preferred, with no status.
	b1, b2 := statusFake(t, "", CodeActionFailed), statusFake(t, "", CodeInvalidAction)
	first := b1.client(ServiceWANIP2)
	cl, st, err = Choose(context.Background(), []*Client{first, b2.client(ServiceWANIP1)})
	if err != nil || cl != first || st != nil {
		t.Fatalf("got %v %+v %v; want the first, no status", cl, st, err)
	}
}

func TestChooseBoundsRequests(t *testing.T) {
	down := statusFake(t, "Disconnected", 0)
	var cands []*Client
	for i := 0; i < 20; i++ {
		cands = append(cands, down.client(ServiceWANIP1))
	}
	if _, _, err := Choose(context.Background(), cands); err != nil {
		t.Fatal(err)
	}
	if n := len(down.requests()); n != maxChooseCandidates {
		t.Errorf("%d GetStatusInfo requests, want %d", n, maxChooseCandidates)
	}
}

func TestChooseErrors(t *testing.T) {
	if _, _, err := Choose(context.Background(), nil); !errors.Is(err, errs.UnusableDevice) {
		t.Errorf("no candidates: %v, want UnusableDevice", err)
	}
	f := statusFake(t, "Connected", 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := Choose(ctx, []*Client{f.client(ServiceWANIP1), f.client(ServiceWANIP1)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// A fault's description is the router's text: it must reach Error() capped
// and without control or bidi characters, and the error names the action.
func TestFaultDescriptionCleaned(t *testing.T) {
	// XML cannot carry C0 controls, but C1 ones (U+009B is CSI) and bidi
	// overrides pass.
	hostile := "Conflict\u009b2J\u202Ehidden" + strings.Repeat("A", 60000)
	f := newFake(t, func(action, _ string) answer { return faultReply(718, hostile) })
	_, err := f.client(ServiceWANIP1).GetExternalIPAddress(context.Background())
	var ue *UPnPError
	if !errors.As(err, &ue) {
		t.Fatalf("%v", err)
	}
	if ue.FailedAction() != "GetExternalIPAddress" || ue.Code != 718 {
		t.Errorf("action %q code %d", ue.FailedAction(), ue.Code)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\u009b\u202E") || len(msg) > 400 {
		t.Errorf("Error() not cleaned (%d bytes): %.200q", len(msg), msg)
	}
	if !strings.HasPrefix(msg, "igd: GetExternalIPAddress: 718 ConflictInMappingEntry") {
		t.Errorf("Error() = %.120q", msg)
	}
	if strings.ContainsAny(ue.Description, "\u009b\u202E") || len([]rune(ue.Description)) > 120 {
		t.Errorf("Description not cleaned: %.200q", ue.Description)
	}
}
