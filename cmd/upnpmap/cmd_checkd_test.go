package main

import (
	"bytes"
	"context"
	"net"
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
