package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// app is one invocation of the CLI. Its fields are what tests and the demo
// replace: where output goes and where the state file lives.
type app struct {
	stdout, stderr io.Writer
	// stderrTTY says stderr is a terminal: progress lines are shown (and
	// rewritten in place) only then, or with -v.
	stderrTTY bool
	// cacheDir holds the state file; "" means os.UserCacheDir()/upnpmap.
	// The demo points it at a temporary directory, so that it never touches
	// the user's state.
	cacheDir string
	// log is -v's logger for the CLI's own steps (the state file); nil
	// without -v.
	log *slog.Logger
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
	jsonOut := slices.Contains(args, "--json")
	globals, name, rest, err := splitGlobals(args)
	if err != nil {
		return a.usageError(nil, err, jsonOut)
	}
	switch name {
	case "help", "-h", "--help":
		return a.help(rest)
	case "--version", "-V":
		name = "version"
	case "":
		return a.usageError(nil, fmt.Errorf("no command after %s", strings.Join(globals, " ")), jsonOut)
	case "check":
		// check and checkd have their own flag sets: they talk to a checker,
		// not to a router, so the network flags do not apply.
		return checkMain(ctx, a.stdout, a.stderr, append(globals, rest...))
	case "checkd":
		return checkdMain(ctx, a.stdout, a.stderr, append(globals, rest...))
	}
	cmd := lookupCommand(name)
	if cmd == nil {
		err := fmt.Errorf("unknown command %q", name)
		if s := suggest(name, commandNames()); s != "" {
			err = fmt.Errorf("unknown command %q (did you mean %q?)", name, s)
		}
		return a.usageError(nil, err, jsonOut)
	}
	// Flags given before the command go after it: pflag reads them
	// anywhere among the command's arguments.
	o, pos, err := cmd.parse(append(globals, rest...))
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprint(a.stdout, cmd.helpText())
		return exitOK
	}
	if err != nil {
		return a.usageError(cmd, err, jsonOut)
	}
	var verbose slog.Handler
	if o.verbose {
		verbose = newVerboseHandler(a.stderr, time.Now())
		o.logger = slog.New(verbose)
		a.log = o.logger
	}
	o.watch = newExchangeWatch(verbose)
	err = cmd.run(ctx, a, o, pos)
	if err == nil {
		return exitOK
	}
	var ue *usageErr
	if errors.As(err, &ue) {
		return a.usageError(cmd, ue, o.json)
	}
	var xs *exitStatus
	if errors.As(err, &xs) {
		return xs.code // the command printed its report
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Ctrl-C while a one-shot command waited for the router.
		fmt.Fprintf(a.stderr, "upnpmap %s: interrupted\n", cmd.name)
		return exitUsage
	}
	return a.printError(cmd, o, err)
}

// splitGlobals separates the flags given before the command ("upnpmap -v
// --gateway 192.168.1.1 discover") from the command name and what follows.
// Only the common flags (network and output) may come first.
func splitGlobals(args []string) (globals []string, name string, rest []string, err error) {
	fs := pflag.NewFlagSet("upnpmap", pflag.ContinueOnError)
	networkFlags(fs, defaultOptions())
	outputFlags(fs, defaultOptions())
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "-h", arg == "--help", arg == "-V", arg == "--version":
			return globals, arg, args[i+1:], nil
		case arg == "--" || arg == "-" || !strings.HasPrefix(arg, "-"):
			return globals, arg, args[i+1:], nil
		}
		f, inline := lookupFlag(fs, arg)
		if f == nil {
			err := fmt.Errorf("unknown flag %s before the command", arg)
			var names []string
			fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
			if s := suggest(strings.TrimLeft(arg, "-"), names); s != "" {
				err = fmt.Errorf("unknown flag %s before the command (did you mean --%s?)", arg, s)
			}
			return nil, "", nil, err
		}
		globals = append(globals, arg)
		if !inline && f.NoOptDefVal == "" && i+1 < len(args) {
			// The flag takes a value: the next argument.
			i++
			globals = append(globals, args[i])
		}
	}
	return globals, "", nil, nil
}

// lookupFlag finds the flag arg names ("--gateway", "--gateway=IP", "-g",
// "-gIP", "-vg"); inline reports a value given in the same argument.
func lookupFlag(fs *pflag.FlagSet, arg string) (f *pflag.Flag, inline bool) {
	if name, ok := strings.CutPrefix(arg, "--"); ok {
		name, _, inline = strings.Cut(name, "=")
		return fs.Lookup(name), inline
	}
	short := arg[1:]
	// A cluster of boolean shorthands may end with one that takes a value.
	for i := 0; i < len(short); i++ {
		f = fs.ShorthandLookup(short[i : i+1])
		if f == nil {
			return nil, false
		}
		if f.NoOptDefVal == "" {
			return f, i+1 < len(short)
		}
	}
	return f, false
}

// help implements `upnpmap help [COMMAND]` and `upnpmap help --man`.
func (a *app) help(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stdout, rootHelp())
		return exitOK
	}
	if args[0] == "--man" {
		fmt.Fprint(a.stdout, manPage())
		return exitOK
	}
	switch args[0] {
	case "check":
		return checkMain(context.Background(), a.stdout, a.stderr, []string{"--help"})
	case "checkd":
		return checkdMain(context.Background(), a.stdout, a.stderr, []string{"--help"})
	}
	cmd := lookupCommand(args[0])
	if cmd == nil {
		return a.usageError(nil, fmt.Errorf("no help for unknown command %q", args[0]), false)
	}
	fmt.Fprint(a.stdout, cmd.helpText())
	return exitOK
}

// usageError reports a command line we could not make sense of, with the
// command's usage line so the fix is on screen (or, under --json, as a JSON
// error object on stdout).
func (a *app) usageError(cmd *command, err error, jsonOut bool) int {
	if cmd != nil {
		err = withFlagHint(err, cmd.flagSet(defaultOptions()))
	}
	if jsonOut {
		e := errorJSON{Error: err.Error(), Class: classUsage.String(), ExitCode: exitUsage}
		if cmd != nil {
			e.Command = cmd.name
			e.Advice = []string{"usage: upnpmap " + cmd.usage}
		}
		_ = (&printer{w: a.stdout, json: true}).object(e)
		return exitUsage
	}
	if cmd == nil {
		fmt.Fprintf(a.stderr, "upnpmap: %v\nRun 'upnpmap help' for the list of commands.\n", err)
		return exitUsage
	}
	fmt.Fprintf(a.stderr, "upnpmap %s: %v\nUsage: upnpmap %s\nRun 'upnpmap help %s' for flags and examples.\n",
		cmd.name, err, cmd.usage, cmd.name)
	return exitUsage
}

// errorJSON is a failure under --json: one object on stdout, so that a
// script reads results and failures from one stream, one object per line.
type errorJSON struct {
	// Error says what happened, in one line.
	Error string `json:"error"`
	// Class is the failure class: usage, local, no-gateway, refused,
	// timeout or unusable-device (the exit code says the same).
	Class    string `json:"class"`
	ExitCode int    `json:"exit_code"`
	// Command is the command that failed.
	Command string `json:"command,omitempty"`
	// Advice is what to do, one line per entry.
	Advice []string `json:"advice,omitempty"`
	// Detail is the error as the library reported it, router text cleaned
	// of control and bidi characters and capped.
	Detail string `json:"detail,omitempty"`
}

// printError writes err with its explanation (cause and fix) to stderr, or
// as a JSON object to stdout under --json, and returns the exit code.
func (a *app) printError(cmd *command, o *options, err error) int {
	x := explainFor(cmd.name, err)
	code := x.class.exitCode()
	if o.json {
		e := errorJSON{Error: x.what, Class: x.class.String(), ExitCode: code, Command: cmd.name, Advice: x.fix, Detail: x.detail}
		if e.Error == "" {
			e.Error, e.Detail = x.detail, ""
		}
		_ = (&printer{w: a.stdout, json: true}).object(e)
		return code
	}
	if x.what == "" {
		fmt.Fprintf(a.stderr, "upnpmap %s: %s\n", cmd.name, x.detail)
		return code
	}
	fmt.Fprintf(a.stderr, "upnpmap %s: %s\n", cmd.name, x.what)
	for _, l := range x.fix {
		fmt.Fprintf(a.stderr, "  %s\n", l)
	}
	fmt.Fprintf(a.stderr, "  (%s)\n", x.detail)
	return code
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
