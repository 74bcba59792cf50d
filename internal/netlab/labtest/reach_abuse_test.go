//go:build linux

package labtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
	"github.com/upnpmap/upnpmap/reach"
)

// TestReachCheckerAbuse: the checker (default limits) cannot be aimed at
// another host, limits a flood from one source, and sends no more UDP
// bytes than it receives. Requests are written by hand from the protocol's
// documentation and sent from a LAN host, so the checker sees the router's
// address, as it would on the Internet.
func TestReachCheckerAbuse(t *testing.T) {
	ctx, lab := newReachLab(t, netlab.Options{})
	wan, alt := lab.Addr(netlab.WAN), netip.MustParseAddr("1.2.3.2")
	ext := lab.ExternalAddr()

	t.Run("OnlyTheObservedSource", func(t *testing.T) {
		ck := startCheckd(t, ctx, lab, netlab.WAN, wan)
		const port = 21140
		// The host the request would name: the WAN host's other address.
		ln, err := lab.Listen(netlab.WAN, netip.AddrPortFrom(alt, port).String())
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var victim atomic.Int64
		go countAccepts(ln, &victim)
		if err := lab.CountPackets(ctx, "probe21140", fmt.Sprintf("ip saddr %v tcp dport %d", wan, port)); err != nil {
			t.Fatal(err)
		}

		// The protocol has no address field: an address smuggled into the
		// padding makes the request malformed, and nothing is probed.
		req, _ := wireRequest(t, protoTCP, port)
		copy(req[28:], alt.AsSlice())
		binary.BigEndian.PutUint16(req[32:], port)
		a, err := askTCP(ctx, lab, netlab.LAN1, ck.addr, req)
		if err != nil {
			t.Fatal(err)
		}
		if a.code != codeBad {
			t.Fatalf("request naming %v in its padding: answer code %d; want %d (BAD)", alt, a.code, codeBad)
		}
		if n := packets(t, ctx, lab, "probe21140"); n != 0 {
			t.Fatalf("after a BAD request the router got %d probe packets; want 0", n)
		}

		// A well-formed request: the probe goes to the address the
		// checker saw (the router's), and nowhere else.
		req, nonce := wireRequest(t, protoTCP, port)
		a, err = askTCP(ctx, lab, netlab.LAN1, ck.addr, req)
		if err != nil {
			t.Fatal(err)
		}
		if a.code != codeRefused || a.observed.Addr() != ext || a.nonce != nonce || a.port != port {
			t.Fatalf("answer %+v; want REFUSED (nothing mapped) for port %d, observed %v, our nonce", a, port, ext)
		}
		if n := packets(t, ctx, lab, "probe21140"); n == 0 {
			t.Fatalf("the router got no probe; want the checker's SYN to %v:%d", ext, port)
		}
		st := parseCheckdStats(t, ck.stop(t))
		if st.requests != 2 || st.probes != 1 {
			t.Errorf("checkd: %+v; want 2 requests, 1 probe", st)
		}
		if n := victim.Load(); n != 0 {
			t.Errorf("%v:%d was connected to %d times; want never", alt, port, n)
		}
	})

	t.Run("FloodLimited", func(t *testing.T) {
		ck := startCheckd(t, ctx, lab, netlab.WAN, alt)
		const port, flood = 21141, 20
		if err := lab.CountPackets(ctx, "probe21141", fmt.Sprintf("ip saddr %v tcp dport %d", alt, port)); err != nil {
			t.Fatal(err)
		}
		codes := map[byte]int{}
		start := time.Now()
		for range flood {
			req, _ := wireRequest(t, protoTCP, port)
			a, err := askTCP(ctx, lab, netlab.LAN1, ck.addr, req)
			if err != nil {
				t.Fatal(err)
			}
			codes[a.code]++
		}
		elapsed := time.Since(start)
		// The token bucket lets a burst through, then the rate.
		allowed := reach.DefaultBurst + int(math.Ceil(elapsed.Seconds()*reach.DefaultRate))
		probed := flood - codes[codeLimited]
		t.Logf("%d requests in %v: answers by code %v; %d probed, at most %d allowed", flood, elapsed.Round(time.Millisecond), codes, probed, allowed)
		if probed > allowed || codes[codeRefused] != probed {
			t.Fatalf("answers by code %v: %d probed; want at most %d, each REFUSED, the rest LIMITED (%d)", codes, probed, allowed, codeLimited)
		}
		if n := packets(t, ctx, lab, "probe21141"); n < uint64(probed) || n > uint64(allowed) {
			t.Fatalf("the router got %d probe packets; want %d..%d", n, probed, allowed)
		}
		st := parseCheckdStats(t, ck.stop(t))
		if st.requests != flood || st.probes != probed || st.limited != codes[codeLimited] {
			t.Errorf("checkd: %+v; want %d requests, %d probes, %d limited", st, flood, probed, codes[codeLimited])
		}
	})

	t.Run("UDPNoAmplification", func(t *testing.T) {
		// A fresh checker (the first one has stopped): a full bucket.
		ck := startCheckd(t, ctx, lab, netlab.WAN, wan)
		const port = 21142
		// Bytes of UDP from the router to the checker, and from the
		// checker's host to the router (answers and probes, whatever
		// their source port, but not the lab's STUN responder).
		rules := fmt.Sprintf(`table ip reachtest {
	counter in_udp {}
	counter out_udp {}
	chain input { type filter hook input priority -300; ip saddr %[1]v udp dport %[2]d counter name in_udp; }
	chain output { type filter hook output priority -300; ip daddr %[1]v meta l4proto udp udp sport != 3478-3479 counter name out_udp; }
}
`, ext, ck.addr.Port())
		wanNFT(t, ctx, lab, rules)
		c, err := lab.ListenUDP(netlab.LAN1, lab.Addr(netlab.LAN1).String()+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// More than the burst, at once: those over the limit get no answer.
		const sent = reach.DefaultBurst + 3
		to := net.UDPAddrFromAddrPort(ck.addr)
		for range sent {
			req, _ := wireRequest(t, protoUDP, port)
			if _, err := c.WriteToUDP(req, to); err != nil {
				t.Fatal(err)
			}
		}
		answers := 0
		c.SetReadDeadline(time.Now().Add(askWait))
		b := make([]byte, 2048)
		// The burst is answered; the rest never is (silence over UDP).
		for answers < reach.DefaultBurst {
			n, err := c.Read(b)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := parseWireAnswer(b[:n]); err != nil {
				t.Fatalf("datagram from the checker: %v", err)
			}
			answers++
		}
		// The requests over the limit get no answer, so nothing tells the
		// test when the checker has read them: wait until all of them
		// reached the host and its socket's queue is empty (a stopping
		// checker finishes the datagram it has read, but reads no more).
		waitUDPDrained(t, ctx, lab, netlab.WAN, ck.addr.Port(), sent)
		// Stopped, the checker sends nothing more: the counters are final.
		st := parseCheckdStats(t, ck.stop(t))
		in, out := nftBytes(t, ctx, lab, "in_udp"), nftBytes(t, ctx, lab, "out_udp")
		t.Logf("%d UDP requests, %d answers; bytes in %d, out %d (answers and probes)", sent, answers, in, out)
		if want := uint64(sent * (wireRequestSize + 28)); in != want {
			t.Fatalf("the checker's host got %d bytes of requests; want %d", in, want)
		}
		if answers != reach.DefaultBurst || st.requests != sent || st.limited != sent-answers {
			t.Errorf("%d answers to %d requests, checkd %+v; want the burst (%d) answered, the rest limited", answers, sent, st, reach.DefaultBurst)
		}
		if out == 0 || out > in {
			t.Fatalf("UDP bytes out %d, in %d; want 0 < out <= in", out, in)
		}
	})
}

// countAccepts counts connections on ln until it is closed.
func countAccepts(ln net.Listener, n *atomic.Int64) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		n.Add(1)
		c.Close()
	}
}

// packets reads a router counter of CountPackets.
func packets(t *testing.T, ctx context.Context, lab *netlab.Lab, name string) uint64 {
	t.Helper()
	n, err := lab.Packets(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// nftBytes reads the bytes of a counter in the WAN host's reachtest table.
func nftBytes(t *testing.T, ctx context.Context, lab *netlab.Lab, name string) uint64 {
	t.Helper()
	_, b := wanCounter(t, ctx, lab, name)
	return b
}

// wanCounter reads a counter in the WAN host's reachtest table: packets
// and bytes.
func wanCounter(t *testing.T, ctx context.Context, lab *netlab.Lab, name string) (packets, bytes uint64) {
	t.Helper()
	out, err := lab.Exec(ctx, netlab.WAN, "nft", "-j", "list", "counter", "ip", "reachtest", name)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Packets uint64 `json:"packets"`
				Bytes   uint64 `json:"bytes"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := jsonUnmarshal(out, &doc); err != nil {
		t.Fatalf("nft counter %s: %v", name, err)
	}
	for _, it := range doc.Nftables {
		if it.Counter != nil {
			return it.Counter.Packets, it.Counter.Bytes
		}
	}
	t.Fatalf("no nft counter %s", name)
	return 0, 0
}

// wanNFT loads an nft script in the WAN host.
func wanNFT(t *testing.T, ctx context.Context, lab *netlab.Lab, script string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.Exec(ctx, netlab.WAN, "nft", "-f", file); err != nil {
		t.Fatal(err)
	}
}

// waitUDPDrained waits (bounded by udpDrainWait) until node's input counter
// in_udp has seen want datagrams and the UDP socket bound to port there
// has nothing left in its receive queue (/proc/net/udp, as the namespace
// sees it).
func waitUDPDrained(t *testing.T, ctx context.Context, lab *netlab.Lab, node netlab.Node, port uint16, want int) {
	t.Helper()
	deadline := time.Now().Add(udpDrainWait)
	for {
		pkts, _ := wanCounter(t, ctx, lab, "in_udp")
		out, err := lab.Exec(ctx, node, "cat", "/proc/net/udp")
		if err != nil {
			t.Fatal(err)
		}
		queued, found := udpRxQueue(string(out), port)
		if pkts >= uint64(want) && found && queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d of %d datagrams in, socket on port %d found %v with %d bytes queued", udpDrainWait, pkts, want, port, found, queued)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// udpDrainWait bounds waitUDPDrained.
const udpDrainWait = 10 * time.Second

// udpRxQueue finds the socket bound to port in a /proc/net/udp listing and
// returns its receive queue in bytes.
func udpRxQueue(listing string, port uint16) (uint64, bool) {
	suffix := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(listing, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasSuffix(f[1], suffix) {
			continue
		}
		_, rx, ok := strings.Cut(f[4], ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(rx, 16, 64)
		if err != nil {
			continue
		}
		return n, true
	}
	return 0, false
}
