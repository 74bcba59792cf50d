//go:build linux

// Command labctl builds and tears down the miniupnpd lab of package
// internal/netlab for shell scripts such as bench/mapping.sh.
//
//	labctl up -env FILE [-log FILE] [-max 15m]
//	labctl clean
//
// up builds a lab (four network namespaces: wan, rtr running miniupnpd, lan1,
// lan2), writes shell assignments describing it to FILE once it is ready, and
// holds it until SIGINT, SIGTERM or SIGHUP arrives, its parent process dies,
// or -max has passed. Then it tears the lab down (netlab's Close), checks
// that nothing is left (netlab.CheckClean), copies the router log to -log
// and exits; the exit status is 1 when anything failed. The lab must live in
// this process because netlab's STUN responder, which gives miniupnpd its
// external address, runs inside it.
//
// The FILE, sourced by a script:
//
//	LAB_LAN1=upm-1234-1-lan1   LAB_LAN2=…   LAB_RTR=…   LAB_WAN=…
//	LAB_GATEWAY=192.168.77.1   LAB_LAN1_ADDR=192.168.77.10   LAB_LAN2_ADDR=…
//	LAB_EXTERNAL=1.2.3.4       LAB_DESC_URL=http://192.168.77.1:5000/rootDesc.xml
//
// clean removes what crashed runs left behind (netlab.CleanStale): lab
// namespaces whose owning process is gone, and the processes inside them.
//
// labctl needs root and the commands netlab needs (ip, nft, sysctl,
// miniupnpd). It sends nothing outside the lab: the lab's links exist only
// between its own namespaces.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
	"golang.org/x/sys/unix"
)

func main() {
	code := 1
	// Deferred so that it also runs after a netlab Fatal (runtime.Goexit).
	defer func() { os.Exit(code) }()
	code = run(os.Args[1:])
}

func usage() int {
	fmt.Fprintln(os.Stderr, "usage: labctl up -env FILE [-log FILE] [-max DURATION]\n       labctl clean")
	return 2
}

func run(args []string) int {
	// A reader of our stderr that went away (`mapping.sh | head`) must not
	// kill us half-way through a teardown: writes then fail instead.
	signal.Ignore(syscall.SIGPIPE)
	if len(args) == 0 {
		return usage()
	}
	switch args[0] {
	case "up":
		return up(args[1:])
	case "clean":
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := netlab.CleanStale(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "labctl clean:", err)
			return 1
		}
		return 0
	}
	return usage()
}

func up(args []string) int {
	fs := flag.NewFlagSet("labctl up", flag.ContinueOnError)
	envFile := fs.String("env", "", "write the lab's description (shell assignments) to this file when it is ready")
	logFile := fs.String("log", "", "copy the router log (miniupnpd -d) here at teardown")
	maxLife := fs.Duration("max", 15*time.Minute, "tear the lab down after this long in any case")
	if err := fs.Parse(args); err != nil || *envFile == "" || fs.NArg() != 0 {
		return usage()
	}
	if err := netlab.Available(); err != nil {
		fmt.Fprintln(os.Stderr, "labctl:", err)
		return 1
	}

	// The script that started us may die without its trap running (SIGKILL):
	// the kernel then sends SIGTERM, which tears the lab down as usual.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "labctl: prctl:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if os.Getppid() == 1 {
		fmt.Fprintln(os.Stderr, "labctl: the parent process is gone; not building")
		return 1
	}

	t, err := newProgramTB(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "labctl:", err)
		return 1
	}
	code := 0
	defer func() {
		// Runs after a netlab Fatal too (runtime.Goexit runs deferred calls).
		if code == 0 && t.Failed() {
			code = 1
		}
		if err := teardown(t, *logFile); err != nil {
			fmt.Fprintln(os.Stderr, "labctl:", err)
			code = 1
		}
		if code != 0 {
			t.Fail()
		}
	}()
	lab, err := netlab.New(ctx, t, netlab.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "labctl: build:", err)
		code = 1
		return code
	}
	saveLog := func() {}
	if *logFile != "" {
		saveLog = func() { copyFile(lab.LogPath(), *logFile) }
	}
	t.Cleanup(saveLog) // runs before netlab's Close (last registered, first run)

	if err := writeEnv(*envFile, lab); err != nil {
		fmt.Fprintln(os.Stderr, "labctl:", err)
		code = 1
		return code
	}
	fmt.Fprintf(os.Stderr, "labctl: lab up: %s, %s, %s, %s; gateway %v, external %v\n",
		lab.Netns(netlab.WAN), lab.Netns(netlab.Router), lab.Netns(netlab.LAN1), lab.Netns(netlab.LAN2),
		lab.Gateway(), lab.ExternalAddr())

	timer := time.NewTimer(*maxLife)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "labctl: signal; tearing the lab down")
	case <-timer.C:
		fmt.Fprintf(os.Stderr, "labctl: -max %v reached; tearing the lab down\n", *maxLife)
		code = 1
	}
	return code
}

// teardown runs the cleanups (copy the log, netlab's Close) and checks that
// the lab left nothing behind.
func teardown(t *programTB, logFile string) error {
	t.cleanup()
	var errs []error
	if t.Failed() {
		errs = append(errs, errors.New("lab teardown reported errors (see above)"))
	}
	if err := netlab.CheckClean(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "labctl: lab torn down, nothing left")
	return nil
}

// writeEnv writes the lab's description as shell assignments, atomically
// (the script polls for the file).
func writeEnv(path string, lab *netlab.Lab) error {
	vars := []struct {
		name  string
		value any
	}{
		{"LAB_WAN", lab.Netns(netlab.WAN)},
		{"LAB_RTR", lab.Netns(netlab.Router)},
		{"LAB_LAN1", lab.Netns(netlab.LAN1)},
		{"LAB_LAN2", lab.Netns(netlab.LAN2)},
		{"LAB_GATEWAY", lab.Gateway()},
		{"LAB_LAN1_ADDR", lab.Addr(netlab.LAN1)},
		{"LAB_LAN2_ADDR", lab.Addr(netlab.LAN2)},
		{"LAB_EXTERNAL", lab.ExternalAddr()},
		{"LAB_DESC_URL", lab.DescURL()},
		{"LAB_ROUTER_PID", lab.RouterPID()},
	}
	var b strings.Builder
	for _, v := range vars {
		s := fmt.Sprint(v.value)
		// Values are names, addresses and URLs netlab made; refuse anything
		// that would need quoting rather than quote it.
		if strings.ContainsAny(s, " \t\n'\"`$\\;&|<>()") {
			return fmt.Errorf("%s=%q needs quoting", v.name, s)
		}
		fmt.Fprintf(&b, "%s=%s\n", v.name, s)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func copyFile(from, to string) {
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "labctl: router log:", err)
	}
}
