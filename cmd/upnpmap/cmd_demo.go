package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

var demoCmd = &command{
	name:    "demo",
	usage:   "demo [flags]",
	summary: "a session against a built-in fake router",
	about: `Start the built-in fake router on a loopback address and walk through
discover, add, list and delete against it, printing each command and its output
as a session with a real router would look. It needs no router, sends nothing
off loopback and leaves nothing behind. With -v, each protocol step is shown.`,
	examples: []string{"upnpmap demo", "upnpmap demo -v"},
	common:   []flagGroup{verboseFlag},
	run:      runDemo,
}

// demoSteps is the session the demo walks through. Each is a real command,
// run in-process with the same code as when typed.
var demoSteps = []struct {
	say  string
	args []string
}{
	{"Which methods does the router speak, and what is its external address?", []string{"discover"}},
	{"Open external port 8080 to port 8080 on this machine, for an hour:", []string{"add", "8080", "--lifetime", "1h"}},
	{"The router's table (UPnP lists it all; OURS marks what upnpmap made):", []string{"list"}},
	{"Remove the mapping again:", []string{"delete", "8080"}},
}

func runDemo(ctx context.Context, a *app, o *options, _ []string) error {
	gw, err := gatewaytest.Start(gatewaytest.Config{})
	if err != nil {
		return fmt.Errorf("starting the fake router: %w", err)
	}
	defer gw.Close()
	// The demo's state file is its own, and goes when the demo ends.
	dir, err := os.MkdirTemp("", "upnpmap-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sub := &app{stdout: a.stdout, stderr: a.stderr, cacheDir: dir}

	addr := gw.Addr().String()
	fmt.Fprintf(a.stdout, "A session with the built-in fake router on %s (loopback only: nothing\n"+
		"leaves this machine). With a real router, leave out --gateway.\n", addr)
	for _, step := range demoSteps {
		args := append(append([]string{}, step.args...), "--gateway", addr)
		if o.verbose {
			args = append(args, "-v")
		}
		fmt.Fprintf(a.stdout, "\n# %s\n$ upnpmap %s\n", step.say, strings.Join(args, " "))
		if code := sub.run(ctx, args); code != exitOK {
			return fmt.Errorf("demo step `upnpmap %s` failed with exit code %d", strings.Join(args, " "), code)
		}
	}
	if left := len(gw.Mappings()); left != 0 {
		return fmt.Errorf("demo: the fake router still holds %d mappings", left)
	}
	fmt.Fprint(a.stdout, "\nThe fake router's table is empty again. To try your own commands or programs,\n"+
		"run `upnpmap gateway` in one terminal and use the --gateway address it prints.\n")
	return nil
}
