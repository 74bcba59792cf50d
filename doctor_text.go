package upnpmap

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the report for people: the facts first, then each
// finding with its fix, then the verdict.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range r.Interfaces {
		mark := " "
		if n.Chosen {
			mark = "*"
		}
		ps := make([]string, len(n.Prefixes))
		for i, p := range n.Prefixes {
			ps[i] = p.String()
		}
		fmt.Fprintf(tw, "interface %s %s\t%s\t%s\n", mark, n.Name, strings.Join(ps, " "), n.Reason)
	}
	if r.Gateway.IsValid() {
		fmt.Fprintf(tw, "gateway\t%v (from %v)\t\n", r.Gateway, r.Local)
	}
	for _, m := range r.Methods {
		got := "answered"
		if !m.Answered {
			got = "no: " + m.Error
		} else if m.External.IsValid() {
			got += ", external " + m.External.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Method, roundRTT(m.Elapsed), got)
	}
	if d := r.Device; d != nil {
		fmt.Fprintf(tw, "device\t%s\t%s %s\n", d.FriendlyName, d.Manufacturer, d.ModelName)
		fmt.Fprintf(tw, "wan\tstatus %s, type %s, link %s\t\n", orDash(d.ConnectionStatus), orDash(d.ConnectionType), orDash(d.LinkStatus))
		for _, q := range d.Quirks {
			fmt.Fprintf(tw, "quirk\t%s\t%s (%s)\n", q.ID, q.Behavior, q.Handling)
		}
	}
	ext := "-"
	if r.External.IsValid() {
		ext = r.External.String()
	}
	if r.Observed.IsValid() {
		ext += ", seen from outside as " + r.Observed.String()
	}
	fmt.Fprintf(tw, "nat\t%s\texternal %s\n", r.NAT, ext)
	if l := r.Listening; l != nil {
		fmt.Fprintf(tw, "listening\t%v\t%s\n", l.Addr, yesNo(l.Listening))
	}
	for _, s := range r.Stale {
		state := s.Kind
		if s.Removed {
			state += ", removed"
		}
		if s.Error != "" {
			state += ", not removed: " + s.Error
		}
		fmt.Fprintf(tw, "stale\t%s %v -> %v\t%s\n", s.Protocol, s.External, s.Internal, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range r.Findings {
		fmt.Fprintf(w, "\n%s %s: %s\n", strings.ToUpper(f.Severity), f.Code, f.What)
		if f.Fix != "" {
			fmt.Fprintf(w, "  fix: %s\n", f.Fix)
		}
	}
	verdict := "the port can work"
	if !r.PortCanWork {
		verdict = "the port cannot work until the errors above are fixed"
	}
	_, err := fmt.Fprintf(w, "\n%s\n", verdict)
	return err
}

// roundRTT keeps two or three significant digits of a round trip.
func roundRTT(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
