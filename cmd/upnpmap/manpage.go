package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// manPage renders the manual page (roff, man(7) macros) from the command
// table, so that it says what the help says: `upnpmap help --man`.
func manPage() string {
	var b strings.Builder
	v := buildVersion().Version
	fmt.Fprintf(&b, ".TH UPNPMAP 1 \"\" \"upnpmap %s\" \"User Commands\"\n", roff(v))
	b.WriteString(".SH NAME\nupnpmap \\- open ports on your router (PCP, NAT\\-PMP, UPnP IGD) and relay traffic\n")
	b.WriteString(".SH SYNOPSIS\n.B upnpmap\n[\\fIflags\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR] [\\fIflags\\fR]\n")
	b.WriteString(".SH DESCRIPTION\n")
	b.WriteString("upnpmap asks the router for port mappings with PCP, NAT\\-PMP or UPnP IGD, keeps them, " +
		"deletes them, and relays traffic to other hosts. The common flags below may come before or after the command.\n")
	b.WriteString(".SH COMMANDS\n")
	for _, c := range commands {
		fmt.Fprintf(&b, ".SS \"%s\"\n", roff("upnpmap "+c.usage))
		for _, para := range strings.Split(strings.TrimSpace(c.about), "\n") {
			line := roff(strings.TrimSpace(para))
			if strings.HasPrefix(para, " ") {
				b.WriteString(".br\n")
			}
			b.WriteString(line + "\n")
		}
		fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
		for _, g := range c.flags {
			g(fs, defaultOptions())
		}
		manFlags(&b, fs)
		if len(c.examples) > 0 {
			b.WriteString(".PP\nExamples:\n.RS\n.nf\n")
			for _, e := range c.examples {
				b.WriteString(roff(e) + "\n")
			}
			b.WriteString(".fi\n.RE\n")
		}
	}
	b.WriteString(".SH COMMON FLAGS\n")
	fs := pflag.NewFlagSet("upnpmap", pflag.ContinueOnError)
	networkFlags(fs, defaultOptions())
	outputFlags(fs, defaultOptions())
	manFlags(&b, fs)
	b.WriteString(".SH SSH FLAGS\nadd, run, delete and relay take these (ssh.go).\n")
	fs = pflag.NewFlagSet("upnpmap", pflag.ContinueOnError)
	sshFlags(fs, defaultOptions())
	manFlags(&b, fs)
	b.WriteString(".SH DOUBLE NAT FLAGS\ndiscover, add and run take these: when the router's external address is private, they map on the upstream router too.\n")
	fs = pflag.NewFlagSet("upnpmap", pflag.ContinueOnError)
	chainFlags(fs, defaultOptions())
	manFlags(&b, fs)
	b.WriteString(".SH EXIT STATUS\n")
	for _, e := range []struct {
		code int
		what string
	}{
		{exitOK, "success"},
		{exitUsage, "a bad command line, or a local failure (a port that cannot be bound, a state file that cannot be written, a delete that needs a record upnpmap does not have)"},
		{exitNoGateway, "no gateway answered on any method tried, within \\-\\-timeout"},
		{exitRefused, "the router answered and said no: any NAT\\-PMP, PCP or UPnP result code, known or not (the message quotes it)"},
		{exitTimeout, "the router answered something, then stopped answering in time"},
		{exitUnusable, "a UPnP device answered, but its description is too big, malformed, or offers no port\\-mapping service"},
		{exitUnreachable, "check, add \\-\\-check: the checker answered, and the port was not reachable from outside (add: the mapping stays)"},
		{doctorExitBlocked, "doctor: a gateway answered, and a finding stands in the way of the port (the report names it and its fix)"},
	} {
		fmt.Fprintf(&b, ".TP\n.B %d\n%s\n", e.code, e.what)
	}
	b.WriteString(".SH FILES\n.TP\n.I $XDG_CACHE_HOME/upnpmap/\n" +
		"The state file: the mappings upnpmap made (PCP needs their nonce to delete them) and the cached " +
		"description URL of each gateway.\n")
	b.WriteString(".SH SEE ALSO\n.BR upnpc (1),\n.BR natpmpc (1),\n.BR miniupnpd (8)\n")
	return b.String()
}

// manFlags writes a flag set as a .TP list.
func manFlags(b *strings.Builder, fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		name, usage := pflag.UnquoteUsage(f)
		head := "\\-\\-" + roff(f.Name)
		if f.Shorthand != "" {
			head = "\\-" + roff(f.Shorthand) + ", " + head
		}
		if name != "" {
			head += " \\fI" + roff(name) + "\\fR"
		}
		fmt.Fprintf(b, ".TP\n\\fB%s\\fR\n%s\n", head, roff(strings.ReplaceAll(usage, "\n", " ")))
	})
}

// roff escapes text for a roff line: backslashes, hyphens that are minus
// signs in options, and a leading dot or quote that would read as a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
