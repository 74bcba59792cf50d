package table

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/adapters/internal/testgw"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// closeWaitLimit bounds how long the router's hook waits for Close to begin.
const closeWaitLimit = 10 * time.Second

// routerState is Close's result and what the router held when it returned.
type routerState struct {
	err      error
	mappings []gatewaytest.Mapping
	pinholes []gatewaytest.Pinhole
}

// closeUnderWay is the test's table and router, handed to the router's hook.
type closeUnderWay struct {
	tab *Table
	gw  *gatewaytest.Gateway
}

func (t *Table) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Close called while an Add is under way — the router has made the entry,
// its answer is not yet read — returns only once that Add has deleted what
// it made: nothing is left on the router when Close returns, and the Add
// fails as closed. (Before, Close returned at once and the Add deleted its
// mapping afterwards, with its caller's context, which may have ended.)
func TestCloseWaitsForAddUnderWay(t *testing.T) {
	handoff := make(chan closeUnderWay, 1)
	closed := make(chan routerState, 1)
	var once sync.Once
	onChange := func(c gatewaytest.Change) {
		if c.Kind != gatewaytest.Added {
			return
		}
		once.Do(func() {
			h := <-handoff
			go func() {
				err := h.tab.Close()
				closed <- routerState{err, h.gw.Mappings(), h.gw.Pinholes()}
			}()
			// Hold the answer until Close has begun.
			deadline := time.Now().Add(closeWaitLimit)
			for !h.tab.isClosed() && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		})
	}
	gw, c := testgw.NewDual(t, gatewaytest.Config{OnChange: onChange})
	tab := New(c)
	handoff <- closeUnderWay{tab, gw}

	// Family zero: the IPv4 mapping and the pinhole beside it, both under way.
	k := Key{Protocol: upnpmap.UDP, Internal: 4242}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ext, err := tab.Add(ctx, k, 0, "under way", time.Hour); !errors.Is(err, errClosed) {
		t.Errorf("Add under way at Close = %v, %v; want errClosed", ext, err)
	}
	st := <-closed
	if st.err != nil {
		t.Fatalf("Close: %v", st.err)
	}
	if len(st.mappings) != 0 || len(st.pinholes) != 0 {
		t.Fatalf("when Close returned the router held mappings %+v and pinholes %+v, want nothing", st.mappings, st.pinholes)
	}
}
