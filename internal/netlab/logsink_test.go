//go:build linux

package netlab

import (
	"context"
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
