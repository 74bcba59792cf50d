package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// app is one invocation of the CLI. Its fields are what tests and the demo
// replace: where output goes and where the state file lives.
type app struct {
	stdout, stderr io.Writer
	// cacheDir holds the state file; "" means os.UserCacheDir()/upnpmap.
	// The demo points it at a temporary directory, so that it never touches
	// the user's state.
	cacheDir string
}

func newApp(stdout, stderr io.Writer) *app {
	return &app{stdout: stdout, stderr: stderr}
}

// run parses args (without the program name), runs the command and returns
// the process exit code.
func (a *app) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, rootHelp())
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "--help":
		return a.help(rest)
	case "--version", "-V":
		name = "version"
	}
	cmd := lookupCommand(name)
	if cmd == nil {
		return a.usageError(nil, fmt.Errorf("unknown command %q", name))
	}
	o, pos, err := cmd.parse(rest)
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprint(a.stdout, cmd.helpText())
		return exitOK
	}
	if err != nil {
		return a.usageError(cmd, err)
	}
	if o.verbose {
		o.logger = newVerboseLogger(a.stderr, time.Now())
	}
	err = cmd.run(ctx, a, o, pos)
	if err == nil {
		return exitOK
	}
	var ue *usageErr
	if errors.As(err, &ue) {
		return a.usageError(cmd, ue)
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Ctrl-C while a one-shot command waited for the router.
		fmt.Fprintf(a.stderr, "upnpmap %s: interrupted\n", cmd.name)
		return exitUsage
	}
	a.printError(cmd, err)
	return exitCode(err)
}

// help implements `upnpmap help [COMMAND]`.
func (a *app) help(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stdout, rootHelp())
		return exitOK
	}
	cmd := lookupCommand(args[0])
	if cmd == nil {
		return a.usageError(nil, fmt.Errorf("no help for unknown command %q", args[0]))
	}
	fmt.Fprint(a.stdout, cmd.helpText())
	return exitOK
}

// usageError reports a command line we could not make sense of, with the
// command's usage line so the fix is on screen.
func (a *app) usageError(cmd *command, err error) int {
	if cmd == nil {
		fmt.Fprintf(a.stderr, "upnpmap: %v\nRun 'upnpmap help' for the list of commands.\n", err)
		return exitUsage
	}
	fmt.Fprintf(a.stderr, "upnpmap %s: %v\nUsage: upnpmap %s\nRun 'upnpmap help %s' for flags and examples.\n",
		cmd.name, err, cmd.usage, cmd.name)
	return exitUsage
}

// printError writes err with its explanation (cause and fix) to stderr.
func (a *app) printError(cmd *command, err error) {
	msg := explain(err)
	lines := strings.Split(strings.TrimRight(msg, "\n"), "\n")
	fmt.Fprintf(a.stderr, "upnpmap %s: %s\n", cmd.name, lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(a.stderr, "  %s\n", l)
	}
}

// warn prints a non-fatal notice to stderr (stdout stays parseable).
func (a *app) warn(format string, args ...any) {
	fmt.Fprintf(a.stderr, "warning: "+format+"\n", args...)
}

// usageErr is a command-line mistake found after flag parsing (a bad port, a
// missing argument); it maps to exit code 1 and prints the usage line.
type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageErr{msg: fmt.Sprintf(format, args...)}
}
