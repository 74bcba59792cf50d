package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// newVerboseHandler is the -v log handler: every protocol step the library
// logs at debug level, to stderr, stamped with the time since the command
// started ("+12.3ms") instead of the wall clock, so the timings can be read
// directly.
func newVerboseHandler(w io.Writer, start time.Time) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				t := a.Value.Time()
				return slog.String("t", fmt.Sprintf("+%.1fms", float64(t.Sub(start))/float64(time.Millisecond)))
			}
			return a
		},
	})
}

// replyRecords are the debug records with which the natpmp, pcp and
// discovery packages log a reply that answered one of our requests, by
// method. For UPnP an SSDP answer or a fetched description shows the device
// is there; a SOAP response record is also written for transport errors, so
// it is not one of them.
var replyRecords = map[string]string{
	"natpmp: reply":              "natpmp",
	"pcp: reply":                 "pcp",
	"ssdp: answer":               "upnp",
	"device description fetched": "upnp",
}

// exchangeWatch is the CLI's log handler. It notes which methods the router
// answered during the command (so that a later silence is reported as a
// timeout of a router that is there, not as "no gateway"), and passes the
// records on to the -v handler, if any.
type exchangeWatch struct {
	seen *answeredSet
	next slog.Handler // nil: nothing is printed
}

type answeredSet struct {
	mu      sync.Mutex
	methods []string
}

func newExchangeWatch(next slog.Handler) *exchangeWatch {
	return &exchangeWatch{seen: &answeredSet{}, next: next}
}

// Enabled is true at debug level: the reply records are debug records.
func (w *exchangeWatch) Enabled(context.Context, slog.Level) bool { return true }

func (w *exchangeWatch) Handle(ctx context.Context, r slog.Record) error {
	if m, ok := replyRecords[r.Message]; ok {
		w.seen.add(m)
	}
	if w.next != nil && w.next.Enabled(ctx, r.Level) {
		return w.next.Handle(ctx, r)
	}
	return nil
}

func (w *exchangeWatch) WithAttrs(as []slog.Attr) slog.Handler {
	c := *w
	if w.next != nil {
		c.next = w.next.WithAttrs(as)
	}
	return &c
}

func (w *exchangeWatch) WithGroup(name string) slog.Handler {
	c := *w
	if w.next != nil {
		c.next = w.next.WithGroup(name)
	}
	return &c
}

// answered lists the methods that answered so far, in the order they did.
func (w *exchangeWatch) answered() []string {
	if w == nil {
		return nil
	}
	return w.seen.list()
}

func (s *answeredSet) add(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.methods, m) {
		s.methods = append(s.methods, m)
	}
}

func (s *answeredSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.methods)
}
