package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/spf13/pflag"
	"github.com/upnpmap/upnpmap/reach"
)

const checkdUsage = `Usage: upnpmap checkd [flags]

Run a reachability checker (and STUN server) for ` + "`upnpmap check`" + `, on
a public host. It only ever probes back to the address a request came from,
limits each source, and sends no UDP answer bigger than its request (plain
STUN answers excepted: 44 bytes at most). It serves until interrupted. Open its
port, TCP and UDP, in the host's firewall.

Flags:
`

// checkdCLI is what `upnpmap checkd` reads from its command line.
type checkdCLI struct {
	srv     reach.Server
	verbose bool
}

func (c *checkdCLI) flagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("upnpmap checkd", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringVar(&c.srv.Addr, "listen", ":"+strconv.Itoa(reach.DefaultPort), "address to serve on, TCP and UDP")
	fs.StringVar(&c.srv.AltAddr, "alt", "", "a second IP:PORT of this host, for RFC 5780 STUN (needs --listen IP:PORT)")
	fs.Float64Var(&c.srv.Rate, "rate", reach.DefaultRate, "requests per second allowed per source (IPv4 address, IPv6 /64)")
	fs.IntVar(&c.srv.Burst, "burst", reach.DefaultBurst, "requests a source may make at once before the rate applies")
	fs.IntVar(&c.srv.MaxProbes, "max-probes", reach.DefaultMaxProbes, "probes in flight at most")
	fs.DurationVar(&c.srv.ProbeTimeout, "probe-timeout", reach.DefaultProbeTimeout, "how long a probe waits for an answer")
	fs.BoolVarP(&c.verbose, "verbose", "v", false, "log each request on stderr")
	return fs
}

// checkdMain runs `upnpmap checkd ARGS` until ctx ends and returns the exit
// code. It prints the address it serves on to stdout once it is up.
func checkdMain(ctx context.Context, stdout, stderr io.Writer, args []string) int {
	var c checkdCLI
	fs := c.flagSet()
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprint(stdout, checkdUsage+fs.FlagUsagesWrapped(helpWidth))
		return exitOK
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if err != nil {
		fmt.Fprintf(stderr, "upnpmap checkd: %v\nUsage: upnpmap checkd [--listen ADDR] [--alt IP:PORT] [flags]\n", err)
		return exitUsage
	}
	if c.verbose {
		c.srv.Logger = debugLogger(stderr)
	} else {
		c.srv.Logger = slog.New(slog.DiscardHandler)
	}
	if err := c.srv.Start(); err != nil {
		fmt.Fprintf(stderr, "upnpmap checkd: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "checkd: serving on %s (tcp, udp)", c.srv.LocalAddr())
	if alt := c.srv.AltLocalAddr(); alt.IsValid() {
		fmt.Fprintf(stdout, ", alternate %s", alt)
	}
	fmt.Fprintln(stdout)
	<-ctx.Done()
	c.srv.Close()
	st := c.srv.Stats()
	fmt.Fprintf(stdout, "checkd: stopped after %d requests, %d probes, %d limited, %d STUN answers\n",
		st.Requests, st.Probes, st.Limited, st.STUN)
	return exitOK
}
