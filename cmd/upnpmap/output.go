package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/upnpmap/upnpmap/internal/safetext"
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
// we control, so they are reported, not hidden. Characters a terminal would
// act on (C1 controls, bidi overrides; encoding/json escapes only C0) are
// written as \u escapes, so router text stays intact but harmless.
func (p *printer) object(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding JSON output: %w", err)
	}
	b = escapeUnprintable(b)
	b = append(b, '\n')
	_, err = p.w.Write(b)
	return err
}

// escapeUnprintable rewrites the runes of JSON text b that safetext would
// strip as \uXXXX escapes (UTF-16 pairs above the BMP). Outside strings
// JSON has only ASCII, so this touches string contents only.
func escapeUnprintable(b []byte) []byte {
	clean := true
	for _, r := range string(b) {
		if r >= utf8.RuneSelf && !safetext.Printable(r) {
			clean = false
			break
		}
	}
	if clean {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for _, r := range string(b) {
		if r < utf8.RuneSelf || safetext.Printable(r) {
			out = utf8.AppendRune(out, r)
			continue
		}
		if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, "\\u%04x\\u%04x", r1, r2)
			continue
		}
		out = fmt.Appendf(out, "\\u%04x", r)
	}
	return out
}

// capText caps router-supplied text for --json: escaped (see object), and
// cut to safetext.Long runes so that a hostile router cannot flood a script.
func capText(s string) string {
	if utf8.RuneCountInString(s) <= safetext.Long {
		return s
	}
	n := 0
	for i := range s {
		if n == safetext.Long-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// table writes rows under an upper-case header, columns aligned.
func (p *printer) table(header []string, rows [][]string) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return p.flush(tw, &buf)
}

// fields writes "key  value" lines, values aligned.
func (p *printer) fields(kv [][2]string) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, f := range kv {
		if f[1] == "" {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\n", f[0], f[1])
	}
	return p.flush(tw, &buf)
}

// flush writes what tw laid out in buf with one write: tabwriter writes
// each cell on its own, a system call apiece on an unbuffered stdout.
func (p *printer) flush(tw *tabwriter.Writer, buf *bytes.Buffer) error {
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := p.w.Write(buf.Bytes())
	return err
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
