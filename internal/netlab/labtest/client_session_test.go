//go:build linux

package labtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/upnpmap/upnpmap"
)

// The session client mode ("session"): one upnpmap.Client in a lab host
// runs one command per stdin line and answers each with exactly one JSON
// line, so a test can take a router through discover, map, list and delete
// in one process (one probe) and read each result in turn:
//
//	discover                    Client.Discover → "discover"
//	map ID key=value…           Client.Map → "mapped" or "error", with ID
//	                            keys: proto (tcp), port, host (this one),
//	                            ext (0), exact (0/1), desc, lifetime
//	list                        Client.List → "list" with the entries
//	close ID                    Mapping.Close → "closed" (Err if it failed)
//	delete ID                   Client.Delete of mapping ID's DeleteRequest
//	                            (meant for after close) → "deleted"
//	delete-port key=value…      Client.Delete of a DeleteRequest: method,
//	                            proto, ext, port, host → "deleted"
//
// An "error" or a "deleted"/"closed" with Err carries the sentinels the
// error matches (msg.Is). End of input closes every mapping still open.

// entryMsg is one upnpmap.Entry of a "list" answer.
type entryMsg struct {
	Method      string `json:"method"`
	Protocol    string `json:"protocol"`
	External    string `json:"external"`
	Internal    string `json:"internal"`
	Description string `json:"description,omitempty"`
	Ours        bool   `json:"ours,omitempty"`
}

// sessionOpTimeout bounds each command of a session.
const sessionOpTimeout = 15 * time.Second

// clientSession runs a session until stdin ends.
func clientSession(out *output, args []string) error {
	f := newClientFlags("session")
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	s := &session{c: c, out: out, maps: map[string]*upnpmap.Mapping{}}
	defer s.closeAll()
	in := bufio.NewScanner(io.LimitReader(os.Stdin, 1<<20))
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), sessionOpTimeout)
		m := s.do(ctx, fields[0], fields[1:])
		cancel()
		out.send(m)
	}
	return nil
}

// session is the state of a session client: its Client and the mappings
// made so far, by the test's ID.
type session struct {
	c    *upnpmap.Client
	out  *output
	maps map[string]*upnpmap.Mapping
}

// do runs one command and returns its answer.
func (s *session) do(ctx context.Context, cmd string, args []string) msg {
	start := time.Now()
	m, err := s.run(ctx, cmd, args)
	if err != nil {
		m = errorMsg(err)
		if cmd != "map" && cmd != "discover" {
			m.Type = map[string]string{"close": "closed", "delete": "deleted", "delete-port": "deleted"}[cmd]
			if m.Type == "" {
				m.Type = "error"
			}
		}
	}
	if len(args) > 0 && !strings.Contains(args[0], "=") {
		m.ID = args[0]
	}
	m.Elapsed = time.Since(start)
	return m
}

func (s *session) run(ctx context.Context, cmd string, args []string) (msg, error) {
	switch cmd {
	case "discover":
		r, err := s.c.Discover(ctx)
		if err != nil {
			return msg{}, err
		}
		dm := msg{Type: "discover", Gateway: r.Gateway.String(), Local: r.Local.String(),
			ExternalAddr: r.ExternalAddr.String(), Location: r.Location, Device: r.Device}
		for _, m := range r.Methods {
			dm.Methods = append(dm.Methods, string(m))
		}
		return dm, nil
	case "map":
		if len(args) == 0 {
			return msg{}, fmt.Errorf("map: ID missing")
		}
		req, err := parseRequest(args[1:])
		if err != nil {
			return msg{}, err
		}
		m, err := s.c.Map(ctx, req)
		if err != nil {
			return msg{}, err
		}
		s.maps[args[0]] = m
		return msg{Type: "mapped", Method: string(m.Method()), Protocol: string(m.Protocol()),
			External: m.External().String(), Internal: m.Internal().String(), Lifetime: m.Lifetime()}, nil
	case "list":
		entries, err := s.c.List(ctx)
		if err != nil {
			return msg{}, err
		}
		lm := msg{Type: "list", Entries: []entryMsg{}}
		for _, e := range entries {
			lm.Entries = append(lm.Entries, entryMsg{Method: string(e.Method), Protocol: string(e.Protocol),
				External: e.External.String(), Internal: e.Internal.String(), Description: e.Description, Ours: e.Ours})
		}
		return lm, nil
	case "close":
		m, err := s.mapping(args)
		if err != nil {
			return msg{}, err
		}
		return msg{Type: "closed"}, m.CloseContext(ctx)
	case "delete":
		m, err := s.mapping(args)
		if err != nil {
			return msg{}, err
		}
		return msg{Type: "deleted"}, s.c.Delete(ctx, m.DeleteRequest())
	case "delete-port":
		d, err := parseDelete(args)
		if err != nil {
			return msg{}, err
		}
		return msg{Type: "deleted"}, s.c.Delete(ctx, d)
	}
	return msg{}, fmt.Errorf("unknown command %q", cmd)
}

func (s *session) mapping(args []string) (*upnpmap.Mapping, error) {
	if len(args) != 1 || s.maps[args[0]] == nil {
		return nil, fmt.Errorf("no mapping %q", args)
	}
	return s.maps[args[0]], nil
}

// closeAll closes the mappings still open when the session ends.
func (s *session) closeAll() {
	for _, m := range s.maps {
		m.Close()
	}
}

// keyValues parses "key=value" arguments, refusing keys not in allowed.
func keyValues(args []string, allowed ...string) (map[string]string, error) {
	kv := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || !contains(allowed, k) {
			return nil, fmt.Errorf("argument %q: want one of %v as key=value", a, allowed)
		}
		kv[k] = v
	}
	return kv, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func parsePort(s string) (uint16, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err
}

func parseHost(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(s)
}

func parseRequest(args []string) (upnpmap.Request, error) {
	kv, err := keyValues(args, "proto", "port", "host", "ext", "exact", "desc", "lifetime")
	if err != nil {
		return upnpmap.Request{}, err
	}
	req := upnpmap.Request{Protocol: upnpmap.TCP, ExactPort: kv["exact"] == "1", Description: kv["desc"]}
	if kv["proto"] != "" {
		req.Protocol = upnpmap.Protocol(kv["proto"])
	}
	if req.InternalPort, err = parsePort(kv["port"]); err != nil {
		return req, err
	}
	if req.ExternalPort, err = parsePort(kv["ext"]); err != nil {
		return req, err
	}
	if req.InternalAddr, err = parseHost(kv["host"]); err != nil {
		return req, err
	}
	if kv["lifetime"] != "" {
		if req.Lifetime, err = time.ParseDuration(kv["lifetime"]); err != nil {
			return req, err
		}
	}
	return req, nil
}

func parseDelete(args []string) (upnpmap.DeleteRequest, error) {
	kv, err := keyValues(args, "method", "proto", "ext", "port", "host")
	if err != nil {
		return upnpmap.DeleteRequest{}, err
	}
	d := upnpmap.DeleteRequest{Method: upnpmap.Method(kv["method"]), Protocol: upnpmap.Protocol(kv["proto"])}
	if d.ExternalPort, err = parsePort(kv["ext"]); err != nil {
		return d, err
	}
	if d.InternalPort, err = parsePort(kv["port"]); err != nil {
		return d, err
	}
	if d.InternalAddr, err = parseHost(kv["host"]); err != nil {
		return d, err
	}
	return d, nil
}
