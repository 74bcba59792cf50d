package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/reach"
)

// checkdOutput is a bytes.Buffer safe to read while checkd writes to it.
type checkdOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *checkdOutput) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *checkdOutput) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCheckdCmdServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb checkdOutput
	done := make(chan int, 1)
	go func() { done <- checkdMain(ctx, &out, &errb, []string{"--listen", "127.0.0.1:0"}) }()
	var addr string
	deadline := time.Now().Add(20 * time.Second)
	for addr == "" {
		if time.Now().After(deadline) {
			t.Fatalf("checkd never said where it serves: %q %q", out.String(), errb.String())
		}
		if _, rest, ok := strings.Cut(out.String(), "serving on "); ok {
			addr, _, _ = strings.Cut(rest, " ")
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	seen, err := reach.STUN(sctx, addr)
	if err != nil || seen.Addr().String() != "127.0.0.1" {
		t.Fatalf("STUN against checkd: %v %v", seen, err)
	}
	pc, err := net.ListenPacket("udp", ":0") // find a free UDP port
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	pc.Close()
	res, err := (&reach.Client{Answer: true}).Check(sctx, addr, port, reach.UDP)
	if err != nil || !res.IPv4.Verified {
		t.Fatalf("check against checkd: %+v %v", res.IPv4, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK || !strings.Contains(out.String(), "1 STUN answers") {
			t.Fatalf("exit %d, out %q", code, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("checkd did not stop")
	}
}

func TestCheckdCmdUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := checkdMain(context.Background(), &out, &errb, []string{"extra"}); code != exitUsage {
		t.Errorf("extra argument: exit %d", code)
	}
	if code := checkdMain(context.Background(), &out, &errb, []string{"--listen", ":0", "--alt", "127.0.0.2:0"}); code != exitUsage || !strings.Contains(errb.String(), "alternate") {
		t.Errorf("--alt without an IP in --listen: exit %d, %q", code, errb.String())
	}
}

// TestCheckdSystemdUnit: every command line of the example unit (the one it
// runs, and the commented RFC 5780 one) is one checkd accepts, and the unit
// serves the port the README and `upnpmap check` default to, so that the
// example cannot drift from the flags.
func TestCheckdSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join("..", "..", "examples", "systemd", "upnpmap-checkd.service"))
	if err != nil {
		t.Fatal(err)
	}
	const bin = "/usr/local/bin/upnpmap checkd"
	active := 0
	for _, line := range strings.Split(string(unit), "\n") {
		cmdline, ok := strings.CutPrefix(strings.TrimPrefix(line, "#"), "ExecStart=")
		if !ok {
			continue
		}
		args, ok := strings.CutPrefix(cmdline, bin)
		if !ok {
			t.Errorf("unit line %q does not run %s", line, bin)
			continue
		}
		var c checkdCLI
		fs := c.flagSet()
		if err := fs.Parse(strings.Fields(args)); err != nil || fs.NArg() != 0 {
			t.Errorf("unit line %q: checkd's flags say %v, arguments %q", line, err, fs.Args())
			continue
		}
		if strings.HasPrefix(line, "#") {
			if c.srv.AltAddr == "" {
				t.Errorf("commented unit line %q: want the RFC 5780 example with --alt", line)
			}
			continue
		}
		active++
		if _, port, err := net.SplitHostPort(c.srv.Addr); err != nil || port != strconv.Itoa(reach.DefaultPort) {
			t.Errorf("unit line %q listens on %q; want port %d", line, c.srv.Addr, reach.DefaultPort)
		}
	}
	if active != 1 {
		t.Errorf("the unit has %d active ExecStart lines; want 1", active)
	}
}
