package upnpmap

import (
	"sync"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
)

// routeReuse is how long one read of the routing table's default gateways
// serves the next: Map reads it for the IPv6 router (gateway6) and, a moment
// later, for the IPv4 gateway (gateway). A read is two netlink dumps (routes,
// links) and a socket per gateway, about a tenth of a millisecond before the
// first request can leave. Short, so that a route change is seen by the next
// call that comes later than this.
const routeReuse = 100 * time.Millisecond

// routeMemo keeps the last read of the default gateways (see routeReuse).
// The zero value is ready.
type routeMemo struct {
	mu   sync.Mutex
	at   time.Time // monotonic; zero before the first read
	gws  []discovery.Gateway
	err  error
	read func() ([]discovery.Gateway, error) // nil: discovery.DefaultGateways
}

// defaultGateways returns discovery.DefaultGateways, read again unless the
// last read is younger than routeReuse. The slice is shared: callers only
// read it.
func (c *Client) defaultGateways() ([]discovery.Gateway, error) {
	m := &c.routes
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.at.IsZero() && time.Since(m.at) < routeReuse {
		return m.gws, m.err
	}
	read := m.read
	if read == nil {
		read = discovery.DefaultGateways
	}
	m.gws, m.err = read()
	m.at = time.Now()
	return m.gws, m.err
}
