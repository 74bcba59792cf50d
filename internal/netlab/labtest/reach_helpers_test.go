//go:build linux

package labtest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// checkdPort is the checkers' port in the lab: the WAN host's 3478 and 3479
// are the lab's own STUN responder (miniupnpd's ext_stun_port).
const checkdPort = 13478

// Bounds of the checker process's start and stop.
const (
	checkdStartWait = 15 * time.Second
	checkdStopWait  = 10 * time.Second
)

// checkdProc is an `upnpmap checkd` running in a lab node.
type checkdProc struct {
	addr   netip.AddrPort
	cmd    *exec.Cmd
	lines  chan string
	stderr *lockedBuffer

	stopOnce sync.Once
	summary  string // its last line, "checkd: stopped after ..."
}

// startCheckd runs `upnpmap checkd --listen ADDR:checkdPort ARGS` in node
// and waits until it serves. It is stopped (SIGINT) at the end of the test
// if the test has not stopped it.
func startCheckd(t *testing.T, ctx context.Context, lab *netlab.Lab, node netlab.Node, addr netip.Addr, args ...string) *checkdProc {
	t.Helper()
	ap := netip.AddrPortFrom(addr, checkdPort)
	cmd := lab.Cmd(ctx, node, buildCLI(t), append([]string{"checkd", "--listen", ap.String()}, args...)...)
	cmd.Env = childEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &checkdProc{addr: ap, cmd: cmd, lines: make(chan string, 16), stderr: &lockedBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go readLines(out, p.lines)
	t.Cleanup(func() { p.stop(t) })
	select {
	case line, ok := <-p.lines:
		if !ok || !strings.HasPrefix(line, "checkd: serving on "+ap.String()) {
			t.Fatalf("checkd in %s: first line %q; want it serving on %v; stderr:\n%s", node, line, ap, p.stderr.String())
		}
	case <-time.After(checkdStartWait):
		t.Fatalf("checkd in %s: not serving within %v", node, checkdStartWait)
	}
	return p
}

// stop interrupts the checker and returns its summary line.
func (p *checkdProc) stop(t *testing.T) string {
	t.Helper()
	p.stopOnce.Do(func() {
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Errorf("checkd: SIGINT: %v", err)
		}
		timeout := time.After(checkdStopWait)
	drain:
		for {
			select {
			case line, ok := <-p.lines:
				if !ok {
					break drain
				}
				p.summary = line
			case <-timeout:
				p.cmd.Process.Kill()
				t.Errorf("checkd did not stop within %v of SIGINT", checkdStopWait)
				break drain
			}
		}
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == raceExit {
			t.Errorf("checkd: data race:\n%s", p.stderr.String())
		} else if err != nil && !t.Failed() {
			t.Errorf("checkd: %v; stderr:\n%s", err, p.stderr.String())
		}
		t.Logf("checkd %v: %s", p.addr, p.summary)
	})
	return p.summary
}

// checkdStats is the summary line checkd prints when it stops.
type checkdStats struct{ requests, probes, limited, stun int }

func parseCheckdStats(t *testing.T, line string) checkdStats {
	t.Helper()
	var s checkdStats
	if _, err := fmt.Sscanf(line, "checkd: stopped after %d requests, %d probes, %d limited, %d STUN answers",
		&s.requests, &s.probes, &s.limited, &s.stun); err != nil {
		t.Fatalf("checkd summary %q: %v", line, err)
	}
	return s
}

// The checker's wire protocol, version 1, as reach's package doc gives it:
// written here from the documentation, not with the package's own
// encoder, so that the lab checks what a third-party client would send.
const (
	wireRequestSize = 96
	wireAnswerSize  = 48
	wireTypeRequest = 1
	wireTypeAnswer  = 2
	protoTCP        = 6
	protoUDP        = 17
)

// Verdict codes of an answer.
const (
	codeEchoed   = 1
	codeOpen     = 2
	codeRefused  = 3
	codeNoAnswer = 4
	codeLimited  = 5
	codeBusy     = 6
	codeBad      = 7
)

// wireRequest is a request for a probe of port with protocol proto, and its
// nonce.
func wireRequest(t *testing.T, proto byte, port uint16) ([]byte, [16]byte) {
	t.Helper()
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, wireRequestSize)
	copy(b, "UPRC")
	b[4], b[5], b[6] = 1, wireTypeRequest, proto
	binary.BigEndian.PutUint16(b[8:], port)
	copy(b[12:28], nonce[:])
	return b, nonce
}

// wireAnswer is a parsed answer.
type wireAnswer struct {
	code     byte
	port     uint16
	observed netip.AddrPort
	nonce    [16]byte
}

func parseWireAnswer(b []byte) (wireAnswer, error) {
	var a wireAnswer
	if len(b) != wireAnswerSize || string(b[:4]) != "UPRC" || b[4] != 1 || b[5] != wireTypeAnswer {
		return a, fmt.Errorf("not an answer: % x", b)
	}
	a.code = b[7]
	a.port = binary.BigEndian.Uint16(b[8:])
	addr := netip.AddrFrom16([16]byte(b[12:28])).Unmap()
	a.observed = netip.AddrPortFrom(addr, binary.BigEndian.Uint16(b[10:]))
	copy(a.nonce[:], b[28:44])
	return a, nil
}

// askTCP sends one request over TCP from node and reads the answer.
func askTCP(ctx context.Context, lab *netlab.Lab, node netlab.Node, checker netip.AddrPort, req []byte) (wireAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, askWait)
	defer cancel()
	c, err := lab.Dial(ctx, node, "tcp4", checker.String())
	if err != nil {
		return wireAnswer{}, err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	if _, err := c.Write(req); err != nil {
		return wireAnswer{}, err
	}
	b := make([]byte, wireAnswerSize+1)
	n, err := readFull(c, b)
	if n != wireAnswerSize {
		return wireAnswer{}, fmt.Errorf("answer of %d bytes: %v", n, err)
	}
	return parseWireAnswer(b[:n])
}

// askWait bounds one request to the checker: longer than its probe timeout
// (reach.DefaultProbeTimeout, 3 s), since the answer waits for the probe.
const askWait = 10 * time.Second

// readFull reads until EOF or len(b) bytes.
func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// cliCheck is `upnpmap check --json`'s object.
type cliCheck struct {
	Port  uint16         `json:"port"`
	Proto string         `json:"proto"`
	Open  bool           `json:"open"`
	IPv4  cliCheckFamily `json:"ipv4"`
	IPv6  cliCheckFamily `json:"ipv6"`
}

type cliCheckFamily struct {
	Verdict  string `json:"verdict"`
	Verified bool   `json:"verified"`
	Observed string `json:"observed"`
	Error    string `json:"error"`
}

// cliVerify is the "check" member of add's and run's JSON.
type cliVerify struct {
	Verdict   string `json:"verdict"`
	Reachable bool   `json:"reachable"`
	Observed  string `json:"observed"`
	NAT       string `json:"nat"`
	Healed    bool   `json:"healed"`
	Error     string `json:"error"`
}

// cliChecked is a line of `add --check --json` or `run --json`.
type cliChecked struct {
	Event    string     `json:"event"`
	Protocol string     `json:"protocol"`
	External string     `json:"external"`
	Internal string     `json:"internal"`
	Error    string     `json:"error"`
	Check    *cliVerify `json:"check"`
}

// decodeOne decodes out, which must be exactly one JSON object.
func decodeOne[T any](t *testing.T, what, out string) T {
	t.Helper()
	vs := jsonLines[T](t, what, out)
	if len(vs) != 1 {
		t.Fatalf("%s: %d JSON lines; want 1:\n%s", what, len(vs), out)
	}
	return vs[0]
}

// acceptAll accepts and closes connections until ln is closed: an
// application that listens and says nothing.
func acceptAll(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// jsonUnmarshal decodes a command's output.
func jsonUnmarshal(out string, v any) error { return json.Unmarshal([]byte(out), v) }
