//go:build linux

package netlab

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// maxLogMemory bounds the in-memory copy of the router log. miniupnpd logs one
// line per port when it walks the port range (a denied NAT-PMP/PCP request),
// about 5 MB; the file keeps everything.
const maxLogMemory = 16 << 20

// logSink collects the output of every miniupnpd run plus netlab's own marker
// lines ("netlab: ..."), in a file and, bounded, in memory so that the lab can
// wait for a line to appear.
type logSink struct {
	mu      sync.Mutex
	f       *os.File
	buf     []byte
	dropped bool
	changed chan struct{} // closed and replaced at every write
}

func newLogSink(path string) (*logSink, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("netlab: router log: %w", err)
	}
	return &logSink{f: f, changed: make(chan struct{})}, nil
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		s.f.Write(p) // best effort: the in-memory copy is what the lab reads
	}
	if len(s.buf)+len(p) <= maxLogMemory {
		s.buf = append(s.buf, p...)
	} else {
		s.dropped = true
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

// mark writes a netlab marker line, so the log shows what the lab did when.
func (s *logSink) mark(format string, args ...any) {
	fmt.Fprintf(s, "netlab: %s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// String returns everything logged so far (the in-memory copy).
func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped {
		return string(s.buf) + "netlab: [in-memory log full; the rest is in the log file]\n"
	}
	return string(s.buf)
}

// offset is the current length of the in-memory log.
func (s *logSink) offset() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf)
}

// since returns the log from offset from on.
func (s *logSink) since(from int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if from > len(s.buf) {
		return ""
	}
	return string(s.buf[from:])
}

// tail returns about the last n lines, for error messages.
func (s *logSink) tail(n int) string {
	text := strings.TrimRight(s.String(), "\n")
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor blocks until the log after offset from contains one of subs, and
// returns the index of the one found first in the text and the offset just
// past it. It gives up when ctx ends or abort is closed (the process exited).
func (s *logSink) waitFor(ctx context.Context, abort <-chan struct{}, from int, subs ...string) (int, int, error) {
	aborted := false
	for {
		s.mu.Lock()
		text := ""
		if from <= len(s.buf) {
			text = string(s.buf[from:])
		}
		changed := s.changed
		s.mu.Unlock()
		best, bestAt := -1, len(text)
		for i, sub := range subs {
			if at := strings.Index(text, sub); at >= 0 && at < bestAt {
				best, bestAt = i, at
			}
		}
		if best >= 0 {
			return best, from + bestAt + len(subs[best]), nil
		}
		if aborted {
			return -1, from, fmt.Errorf("netlab: miniupnpd exited while waiting for %q", subs)
		}
		select {
		case <-changed:
		case <-abort:
			aborted = true // look once more: the last lines may have come with the exit
		case <-ctx.Done():
			return -1, from, fmt.Errorf("netlab: waiting for %q in the router log: %w", subs, ctx.Err())
		}
	}
}

func (s *logSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// failureLogLines caps the router log a failed test prints. A miniupnpd
// walking its port range for a denied request writes one line per port
// (thousands), which used to push the test's own failure message out of
// the part of the output CI keeps; the whole log stays in the log file.
const failureLogLines = 120

// compactLog folds runs of identical lines into one line with a count and
// keeps the last max lines of the result, saying how many came before.
func compactLog(text string, max int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	var out []string
	for i := 0; i < len(lines); {
		j := i + 1
		for j < len(lines) && lines[j] == lines[i] {
			j++
		}
		if n := j - i; n > 1 {
			out = append(out, fmt.Sprintf("%s  [×%d]", lines[i], n))
		} else {
			out = append(out, lines[i])
		}
		i = j
	}
	if len(out) > max {
		skipped := len(out) - max
		out = append([]string{fmt.Sprintf("netlab: [%d earlier lines left out; the whole log is in the file]", skipped)}, out[skipped:]...)
	}
	return strings.Join(out, "\n")
}
