package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// command is one subcommand: its name, usage line, help text, the flag groups
// it accepts and what it does.
type command struct {
	name    string
	usage   string // after "upnpmap ", e.g. "add EXTPORT [HOST:]PORT [flags]"
	short   string // usage in `upnpmap help`'s list; default usage without "[flags]"
	summary string // one line for `upnpmap help`
	// about is the help text between the usage line and the flags.
	about string
	// examples are shown last in the help, one command per line.
	examples []string
	// flags are this command's own flags, listed in full in its help;
	// common are the shared ones (network, output), listed on one line
	// because `upnpmap help` explains them.
	flags  []flagGroup
	common []flagGroup
	// minArgs and maxArgs bound the positional arguments.
	minArgs, maxArgs int
	run              func(ctx context.Context, a *app, o *options, args []string) error
}

// commands in the order `upnpmap help` lists them. It is filled in init
// because the run functions refer back to the table (demo, help).
var commands []*command

func init() {
	commands = []*command{
		discoverCmd, ipCmd, addCmd, listCmd, deleteCmd,
		relayCmd, runCmd, gatewayCmd, demoCmd, versionCmd, completionCmd,
		doctorCmd,
	}
}

func lookupCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// flagSet builds a fresh pflag set for the command, bound to o.
func (c *command) flagSet(o *options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("upnpmap "+c.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // we print errors and help ourselves
	fs.SortFlags = false
	for _, g := range c.flags {
		g(fs, o)
	}
	for _, g := range c.common {
		g(fs, o)
	}
	return fs
}

// parse reads the command's flags (GNU style, anywhere among the arguments)
// and checks the number of positional arguments.
func (c *command) parse(args []string) (*options, []string, error) {
	o := defaultOptions()
	fs := c.flagSet(o)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	pos := fs.Args()
	switch {
	case len(pos) < c.minArgs:
		return nil, nil, fmt.Errorf("missing arguments")
	case len(pos) > c.maxArgs:
		return nil, nil, fmt.Errorf("too many arguments: %s", strings.Join(pos[c.maxArgs:], " "))
	}
	if err := o.check(); err != nil {
		return nil, nil, err
	}
	o.descriptionSet = fs.Changed("description")
	return o, pos, nil
}

// helpWidth is the terminal width help texts fit in.
const helpWidth = 80

// helpText is what `upnpmap help CMD` and `upnpmap CMD --help` print. Tests
// keep it within one 24-line screen.
func (c *command) helpText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: upnpmap %s\n\n", c.usage)
	b.WriteString(strings.TrimSpace(c.about))
	b.WriteString("\n")
	if len(c.flags) > 0 {
		fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
		fs.SortFlags = false
		for _, g := range c.flags {
			g(fs, defaultOptions())
		}
		b.WriteString("\nFlags:\n")
		b.WriteString(fs.FlagUsagesWrapped(helpWidth))
	}
	if len(c.common) > 0 {
		fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
		fs.SortFlags = false
		for _, g := range c.common {
			g(fs, defaultOptions())
		}
		var names []string
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			n := "--" + f.Name
			if v, _ := pflag.UnquoteUsage(f); v != "" {
				n += " " + v
			}
			if f.Shorthand != "" {
				n = "-" + f.Shorthand + "/" + n
			}
			names = append(names, n)
		})
		b.WriteString("\n")
		const seeHelp = "  (see 'upnpmap help')"
		line := "Also:"
		for i, n := range names {
			// The last name carries the pointer to 'upnpmap help'.
			tail := 0
			if i == len(names)-1 {
				tail = len(seeHelp)
			}
			if len(line)+1+len(n)+tail > helpWidth {
				b.WriteString(line + "\n")
				line = "     "
			}
			line += " " + n
		}
		b.WriteString(line + seeHelp + "\n")
	}
	if len(c.examples) > 0 {
		b.WriteString("\nExamples:\n")
		for _, e := range c.examples {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	return b.String()
}

// rootHelp is `upnpmap help`: every command and the common flags on one
// screen.
func rootHelp() string {
	var b strings.Builder
	b.WriteString("upnpmap opens ports on your router (PCP, NAT-PMP, UPnP IGD) and relays traffic.\n")
	b.WriteString("Usage: upnpmap COMMAND [ARGS] [flags]\n")
	width := 0
	for _, c := range commands {
		width = max(width, len(c.shortUsage()))
	}
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, c.shortUsage(), c.summary)
	}
	fmt.Fprintf(&b, "  %-*s  %s\n", width, "check PORT --checker HOST", "is PORT open from outside? (checkd: the checker)")
	fs := pflag.NewFlagSet("upnpmap", pflag.ContinueOnError)
	fs.SortFlags = false
	networkFlags(fs, defaultOptions())
	outputFlags(fs, defaultOptions())
	b.WriteString("Common flags:\n") // no blank line: the list fills 24 lines
	b.WriteString(fs.FlagUsagesWrapped(helpWidth))
	b.WriteString("Exit codes: 0 ok, 1 usage, 2 no gateway found, 3 the router refused, 4 timeout,\n")
	b.WriteString("5 unusable UPnP device, 6 not reachable (check), 7 port blocked (doctor).\n")
	return b.String()
}

// shortUsage is the usage line without the trailing "[flags]".
func (c *command) shortUsage() string {
	if c.short != "" {
		return c.short
	}
	return strings.TrimSuffix(c.usage, " [flags]")
}
