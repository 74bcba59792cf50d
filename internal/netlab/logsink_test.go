//go:build linux

package netlab

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogSinkWaitFor(t *testing.T) {
	s, err := newLogSink(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write([]byte("one\nSTUN: ... done\n"))
	from := s.offset()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Write([]byte("Port forwarding is now enabled\nSTUN: ... done\n"))
	}()
	// The earlier "done" is before from and must not count.
	i, at, err := s.waitFor(ctx, nil, from, "STUN: ... done", "nothing like this")
	<-done
	if err != nil || i != 0 {
		t.Fatalf("waitFor = %d, %v", i, err)
	}
	if rest := s.since(at); rest != "\n" {
		t.Fatalf("offset after the match leaves %q", rest)
	}

	// The process exits: one last look, then an error.
	exited := make(chan struct{})
	close(exited)
	if _, _, err := s.waitFor(ctx, exited, 0, "Port forwarding"); err != nil {
		t.Fatalf("text already present but aborted: %v", err)
	}
	if _, _, err := s.waitFor(ctx, exited, 0, "never logged"); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("abort: err = %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancelShort()
	if _, _, err := s.waitFor(short, nil, 0, "never logged"); err == nil {
		t.Fatal("waitFor ignored the context")
	}
	s.mark("hello %d", 7)
	if !strings.Contains(s.String(), "netlab: ") || !strings.HasSuffix(s.String(), "hello 7\n") {
		t.Fatalf("mark: %q", s.String())
	}
}

// TestCompactLog: a failed test prints the router log folded and capped,
// so a port walk's thousand identical lines cannot hide the failure.
func TestCompactLog(t *testing.T) {
	var b strings.Builder
	b.WriteString("start\n")
	for range 5000 {
		b.WriteString("miniupnpd[1]: UPnP permission rule 1 matched : port mapping rejected\n")
	}
	b.WriteString("PCP MAP: failed to add mapping\n")
	got := compactLog(b.String(), 10)
	want := "start\nminiupnpd[1]: UPnP permission rule 1 matched : port mapping rejected  [×5000]\nPCP MAP: failed to add mapping"
	if got != want {
		t.Errorf("compactLog folded run:\n%s\nwant:\n%s", got, want)
	}
	b.Reset()
	for i := range 30 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	got = compactLog(b.String(), 3)
	want = "netlab: [27 earlier lines left out; the whole log is in the file]\nline 27\nline 28\nline 29"
	if got != want {
		t.Errorf("compactLog capped:\n%s\nwant:\n%s", got, want)
	}
}
