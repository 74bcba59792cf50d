package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"
)

// newVerboseLogger is the -v logger: every protocol step the library logs at
// debug level, to stderr, stamped with the time since the command started
// ("+12.3ms") instead of the wall clock, so the timings can be read directly.
func newVerboseLogger(w io.Writer, start time.Time) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				t := a.Value.Time()
				return slog.String("t", fmt.Sprintf("+%.1fms", float64(t.Sub(start))/float64(time.Millisecond)))
			}
			return a
		},
	}))
}
