package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"github.com/upnpmap/upnpmap/reach"
)

// checkExitUnreachable is `upnpmap check`'s exit code when the checker
// answered but no family is open. (0: open; 1: usage or local failure; 4:
// the checker is down, slow or speaks garbage.)
const checkExitUnreachable = exitUnreachable

// checkUsage is `upnpmap check`'s help text.
const checkUsage = `Usage: upnpmap check PORT --checker HOST[:PORT] [flags]

Ask a checker you run (upnpmap checkd on a public host) to connect back to
this network's public address at PORT, once per address family, and say what
it found: open, refused, filtered (no answer), or nothing-listening. When
nothing listens on the local port, upnpmap holds it and answers the probe
itself, so the path is proven before the application starts. There is no
default checker: nothing is contacted unless you name it.

Exit codes: 0 open, 1 usage, 4 checker down or slow, 6 not reachable.

Flags:
`

// checkCLI is what `upnpmap check` reads from its command line.
type checkCLI struct {
	checker   string
	udp       bool
	json      bool
	noAnswer  bool
	localPort uint16
	ipv4      bool
	ipv6      bool
	viaUDP    bool
	timeout   time.Duration
	verbose   bool
}

// defaultCheckCLITimeout bounds one `upnpmap check`.
const defaultCheckCLITimeout = 10 * time.Second

func (c *checkCLI) flagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("upnpmap check", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringVar(&c.checker, "checker", "", "the checker, HOST[:PORT] (port 3478 by default); required")
	fs.BoolVar(&c.udp, "udp", false, "check a UDP port (default TCP)")
	fs.Uint16Var(&c.localPort, "local-port", 0, "the port the application listens on here (default PORT)")
	fs.BoolVar(&c.noAnswer, "no-answer", false, "do not answer the probe when nothing listens on the local port")
	fs.BoolVarP(&c.ipv4, "ipv4", "4", false, "check IPv4 only")
	fs.BoolVarP(&c.ipv6, "ipv6", "6", false, "check IPv6 only")
	fs.BoolVar(&c.viaUDP, "via-udp", false, "send the request to the checker over UDP (default TCP)")
	fs.DurationVar(&c.timeout, "timeout", defaultCheckCLITimeout, "give up after this long")
	fs.BoolVar(&c.json, "json", false, "print one JSON object")
	fs.BoolVarP(&c.verbose, "verbose", "v", false, "log each step on stderr")
	return fs
}

// checkMain runs `upnpmap check ARGS` and returns the exit code.
func checkMain(ctx context.Context, stdout, stderr io.Writer, args []string) int {
	var c checkCLI
	fs := c.flagSet()
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprint(stdout, checkUsage+fs.FlagUsagesWrapped(helpWidth))
		return exitOK
	}
	var port uint16
	if err == nil {
		port, err = c.validate(fs.Args())
	}
	if err != nil {
		fmt.Fprintf(stderr, "upnpmap check: %v\nUsage: upnpmap check PORT --checker HOST[:PORT] [--udp] [--json]\n", err)
		return exitUsage
	}
	code, err := c.run(ctx, stdout, stderr, port)
	if err != nil {
		fmt.Fprintf(stderr, "upnpmap check: %v\n", err)
	}
	return code
}

// validate checks the arguments and returns the port.
func (c *checkCLI) validate(pos []string) (uint16, error) {
	switch {
	case len(pos) != 1:
		return 0, fmt.Errorf("want one PORT, got %d arguments", len(pos))
	case c.checker == "":
		return 0, errors.New("no checker: name one with --checker HOST[:PORT] (there is no default; run `upnpmap checkd` on a public host)")
	case c.ipv4 && c.ipv6:
		return 0, errors.New("--ipv4 and --ipv6 together: leave both out to check both")
	}
	p, err := strconv.ParseUint(pos[0], 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("bad port %q: want 1-65535", pos[0])
	}
	return uint16(p), nil
}

func (c *checkCLI) client() *reach.Client {
	rc := &reach.Client{Answer: !c.noAnswer, LocalPort: c.localPort, Timeout: c.timeout}
	switch {
	case c.ipv4:
		rc.Network = "ip4"
	case c.ipv6:
		rc.Network = "ip6"
	}
	if c.viaUDP {
		rc.Transport = reach.UDP
	}
	return rc
}

func (c *checkCLI) run(ctx context.Context, stdout, stderr io.Writer, port uint16) (int, error) {
	rc := c.client()
	if c.verbose {
		rc.Logger = debugLogger(stderr)
	}
	proto := reach.TCP
	if c.udp {
		proto = reach.UDP
	}
	res, err := rc.Check(ctx, c.checker, port, proto)
	if err != nil {
		code := exitTimeout
		if ctx.Err() != nil {
			code = exitUsage // interrupted
		}
		if c.json {
			printCheckJSON(stdout, res)
		}
		return code, explainCheck(err)
	}
	if c.json {
		err = printCheckJSON(stdout, res)
	} else {
		err = printCheckTable(stdout, res)
	}
	if err != nil {
		return exitUsage, err
	}
	if !res.Open() {
		return checkExitUnreachable, nil
	}
	return exitOK, nil
}

// debugLogger is -v's logger for check and checkd: every step, as text, on
// w. (Kept here, not shared with the other commands' logger, so that these
// two commands do not depend on how the rest of the CLI logs.)
func debugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// explainCheck adds the fix to a checker failure.
func explainCheck(err error) error {
	switch {
	case errors.Is(err, reach.ErrLimited):
		return fmt.Errorf("%w\n  the checker limits each source; wait and try again", err)
	case errors.Is(err, reach.ErrRejected), errors.Is(err, reach.ErrBadAnswer):
		return fmt.Errorf("%w\n  is that an upnpmap checkd of the same version? (`upnpmap checkd` on the host)", err)
	case errors.Is(err, reach.ErrCheckerDown), errors.Is(err, reach.ErrCheckerSlow):
		return fmt.Errorf("%w\n  is `upnpmap checkd` running there, and its port (TCP and UDP) open in its firewall?", err)
	}
	return err
}

// checkFamilyJSON is one family in `upnpmap check --json`.
type checkFamilyJSON struct {
	Verdict  string `json:"verdict"`
	Verified bool   `json:"verified,omitempty"`
	Observed string `json:"observed,omitempty"`
	Checker  string `json:"checker,omitempty"`
	Code     string `json:"checker_code,omitempty"`
	Error    string `json:"error,omitempty"`
}

type checkJSON struct {
	Port  uint16          `json:"port"`
	Proto string          `json:"proto"`
	Open  bool            `json:"open"`
	IPv4  checkFamilyJSON `json:"ipv4"`
	IPv6  checkFamilyJSON `json:"ipv6"`
}

func familyJSON(o reach.Outcome) checkFamilyJSON {
	f := checkFamilyJSON{Verdict: o.Verdict.String(), Verified: o.Verified}
	if o.Observed.IsValid() {
		f.Observed = o.Observed.String()
	}
	if o.Checker.IsValid() {
		f.Checker = o.Checker.String()
	}
	if o.Code != 0 {
		f.Code = o.Code.String()
	}
	if o.Err != nil {
		f.Error = o.Err.Error()
	}
	return f
}

func printCheckJSON(w io.Writer, r reach.Result) error {
	return json.NewEncoder(w).Encode(checkJSON{
		Port: r.Port, Proto: r.Proto.String(), Open: r.Open(),
		IPv4: familyJSON(r.IPv4), IPv6: familyJSON(r.IPv6),
	})
}

// verdictNote says what a verdict means for the user, and what to do.
func verdictNote(o reach.Outcome) string {
	switch o.Verdict {
	case reach.Open:
		if o.Verified {
			return "the probe reached this machine"
		}
		return "something accepted the probe (the application listens)"
	case reach.Refused:
		return "refused: no mapping, or it leads elsewhere"
	case reach.Filtered:
		return "no answer: dropped on the way, or a silent UDP application"
	case reach.NothingListening:
		return "nothing listens on the local port; check again with the application running, or without --no-answer"
	}
	if o.Err != nil {
		return o.Err.Error()
	}
	return "not checked: the checker has no address of this family"
}

func printCheckTable(w io.Writer, r reach.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "FAMILY\tVERDICT\tSEEN AS\tNOTE\n")
	for _, f := range []struct {
		name string
		o    reach.Outcome
	}{{"IPv4", r.IPv4}, {"IPv6", r.IPv6}} {
		seen := "-"
		if f.o.Observed.IsValid() {
			// The address alone: the port is the request's source port,
			// which means nothing to people (--json has it).
			seen = f.o.Observed.Addr().String()
		}
		note := strings.ReplaceAll(verdictNote(f.o), "\n", " ")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.name, f.o.Verdict, seen, note)
	}
	return tw.Flush()
}
