package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// printer writes results either for people (aligned tables, key/value
// blocks) or for scripts (--json: one JSON object per result, one per line,
// so `jq -c` and line-oriented tools work and long-running commands can
// stream events).
type printer struct {
	w    io.Writer
	json bool
}

// object writes v as one line of JSON. Encoding errors only come from types
// we control, so they are reported, not hidden.
func (p *printer) object(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding JSON output: %w", err)
	}
	b = append(b, '\n')
	_, err = p.w.Write(b)
	return err
}

// table writes rows under an upper-case header, columns aligned.
func (p *printer) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// fields writes "key  value" lines, values aligned.
func (p *printer) fields(kv [][2]string) error {
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	for _, f := range kv {
		if f[1] == "" {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\n", f[0], f[1])
	}
	return tw.Flush()
}

// line writes one line for people; it is a no-op in --json mode.
func (p *printer) line(format string, args ...any) {
	if p.json {
		return
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// formatExpiry renders a lease end for people: "21:10:05 (in 2h0m0s)", or
// "never (permanent)" for a zero time.
func formatExpiry(t, now time.Time) string {
	if t.IsZero() {
		return "never (permanent)"
	}
	in := t.Sub(now).Round(time.Second)
	if in < 0 {
		return t.Local().Format("15:04:05") + " (expired)"
	}
	layout := "15:04:05"
	if in >= 20*time.Hour {
		layout = "2006-01-02 15:04"
	}
	return fmt.Sprintf("%s (in %s)", t.Local().Format(layout), in)
}

// jsonTime is a time for JSON output: RFC 3339, or null when zero
// (permanent leases), so scripts need not recognise 0001-01-01.
func jsonTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Second)
	return &t
}

// seconds is a duration in JSON: whole seconds, the unit all three protocols use.
func seconds(d time.Duration) int64 { return int64(d / time.Second) }
