package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGINT and SIGTERM end the context; long-running commands (run, relay,
	// gateway, add --relay) then clean up (delete mappings, drain relays) and
	// exit 0. Once the first signal has arrived we stop catching them, so a
	// second Ctrl-C kills a cleanup that hangs.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	a := newApp(os.Stdout, os.Stderr)
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		a.stderrTTY = true
	}
	code := a.run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
