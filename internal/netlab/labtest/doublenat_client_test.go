//go:build linux

package labtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap"
)

// Client command "chain": Map behind a double NAT (a nested lab), with
// the Client's upstream settings from flags. It reports "mapped" with the
// mapping's legs and upstream error, each event with its leg, and reads
// commands from stdin:
//
//	legs    report the legs and the upstream error again (type "legs")
//	close   Close the mapping, report "closed" and exit
//
// End of input closes the mapping too.

// chainInfo is a chained mapping as the client sees it.
type chainInfo struct {
	Legs []legMsg `json:"legs,omitempty"`
	// UpstreamErr is Mapping.UpstreamErr; Unmapped reports that it matches
	// ErrUpstreamUnmapped, and Target, Upstream and CGNAT are the
	// *UpstreamError's fields.
	UpstreamErr string `json:"upstream_err,omitempty"`
	Unmapped    bool   `json:"unmapped,omitempty"`
	Target      string `json:"target,omitempty"`
	Upstream    string `json:"upstream,omitempty"`
	CGNAT       bool   `json:"cgnat,omitempty"`
}

// legMsg is one upnpmap.Leg.
type legMsg struct {
	Router   string `json:"router"`
	Method   string `json:"method"`
	External string `json:"external"`
	Internal string `json:"internal"`
}

func clientChain(out *output, args []string) error {
	f := newClientFlags("chain")
	var (
		upstream, upMethods, proto string
		noChain                    bool
		port, ext                  uint
		poll                       time.Duration
	)
	f.fs.StringVar(&upstream, "upstream", "", "Client.Upstream; empty: found by the library")
	f.fs.StringVar(&upMethods, "upstream-methods", "", "Client.UpstreamMethods, comma-separated; empty: all")
	f.fs.BoolVar(&noChain, "nochain", false, "Client.NoChain")
	f.fs.StringVar(&proto, "proto", "tcp", "tcp or udp")
	f.fs.UintVar(&port, "port", 0, "internal port")
	f.fs.UintVar(&ext, "ext", 0, "external port wished for")
	f.fs.DurationVar(&poll, "poll", 0, "Client.PollInterval")
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	c.PollInterval = poll
	c.NoChain = noChain
	if upstream != "" {
		if c.Upstream, err = netip.ParseAddr(upstream); err != nil {
			return err
		}
	}
	if upMethods != "" {
		for _, s := range strings.Split(upMethods, ",") {
			m, err := upnpmap.ParseMethod(s)
			if err != nil {
				return err
			}
			c.UpstreamMethods = append(c.UpstreamMethods, m)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	start := time.Now()
	m, err := c.Map(ctx, upnpmap.Request{
		Protocol:     upnpmap.Protocol(proto),
		InternalPort: uint16(port),
		ExternalPort: uint16(ext),
		Description:  "labtest chain",
		Family:       upnpmap.IPv4,
	})
	cancel()
	if err != nil {
		return err
	}
	out.send(chainState(m, "mapped", time.Since(start)))

	var wg sync.WaitGroup
	wg.Add(1)
	go forwardLegEvents(&wg, out, m)
	defer wg.Wait() // Close ends the event channel

	in := bufio.NewScanner(io.LimitReader(os.Stdin, 1<<20))
	for in.Scan() {
		switch in.Text() {
		case "legs":
			out.send(chainState(m, "legs", 0))
		case "close":
			return closeMapping(out, m)
		default:
			out.send(msg{Type: "error", Err: "unknown command " + in.Text()})
		}
	}
	return closeMapping(out, m)
}

// chainState reports m with its legs and upstream error.
func chainState(m *upnpmap.Mapping, typ string, elapsed time.Duration) msg {
	info := &chainInfo{}
	for _, l := range m.Legs() {
		info.Legs = append(info.Legs, legMsg{Router: l.Router.String(), Method: string(l.Method),
			External: l.External.String(), Internal: l.Internal.String()})
	}
	if err := m.UpstreamErr(); err != nil {
		info.UpstreamErr = err.Error()
		info.Unmapped = errors.Is(err, upnpmap.ErrUpstreamUnmapped)
		var ue *upnpmap.UpstreamError
		if errors.As(err, &ue) {
			info.Target, info.CGNAT = ue.Target.String(), ue.CGNAT
			if ue.Upstream.IsValid() {
				info.Upstream = ue.Upstream.String()
			}
		}
	}
	return msg{Type: typ, Method: string(m.Method()), Protocol: string(m.Protocol()),
		External: m.External().String(), Internal: m.Internal().String(), Elapsed: elapsed, Chain: info}
}

// forwardLegEvents reports m's events, with their leg, until its channel
// is closed.
func forwardLegEvents(wg *sync.WaitGroup, out *output, m *upnpmap.Mapping) {
	defer wg.Done()
	for ev := range m.Events() {
		em := msg{Type: "event", Kind: kindName(ev.Kind), External: ev.External.String(), Leg: ev.Leg}
		if ev.Err != nil {
			em.Err = ev.Err.Error()
		}
		out.send(em)
	}
}

// String is for test failure messages.
func (l legMsg) String() string {
	return fmt.Sprintf("%s on %s: %s -> %s", l.Method, l.Router, l.External, l.Internal)
}
