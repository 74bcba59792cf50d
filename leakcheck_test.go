package upnpmap

import (
	"testing"
)

// noLiveMappingsAtEnd makes the test fail, by name, when it ends with a
// mapping of c still live (neither closed nor detached). Each live mapping
// has a renewal goroutine, so the package's goroutine check would catch it
// too, but only after every test, without saying which test left it. The
// mappings found are closed so that they do not outlive the test. Register
// it before the test's own cleanups, which then run first.
func noLiveMappingsAtEnd(t testing.TB, c *Client) {
	t.Cleanup(func() {
		c.mu.Lock()
		gws := make([]*gateway, 0, len(c.gws))
		for _, gw := range c.gws {
			gws = append(gws, gw)
		}
		c.mu.Unlock()
		for _, gw := range gws {
			for _, m := range gw.live() {
				t.Errorf("the test left a live %s mapping of %s port %v (external %v): it was neither closed nor detached",
					m.Method(), m.q.proto, m.q.internal, m.External())
				m.Close()
			}
		}
	})
}
