package main

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestGatewayCommandReplay: `upnpmap gateway --replay DIR` serves the
// captured router: discover shows its friendly name, and a UPnP add maps
// through its (WANPPPConnection:2) service.
func TestGatewayCommandReplay(t *testing.T) {
	dir, err := filepath.Abs("../../testdata/routers/orange-livebox-3")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	p := e.start("gateway", "--json", "--replay", dir)
	addr, _ := p.waitEvent("listening", 10*time.Second)["gateway"].(string)
	d := jsonLines(t, e.mustRun("discover", "--gateway", addr, "--method", "upnp", "--json").stdout)[0]
	if d["device"] != "Orange Livebox" {
		t.Errorf("discover against a replayed Livebox: device %v", d["device"])
	}
	e.mustRun("add", "8080", "--gateway", addr, "--method", "upnp")
	if ev := p.waitEvent("added", 5*time.Second); ev["external_port"] != float64(8080) || ev["method"] != "upnp" {
		t.Errorf("added event %v", ev)
	}
	if _, code := p.stop(syscall.SIGINT); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, p.stderr)
	}
}

// TestGatewayFakeFlags: --miniupnpd turns on the miniupnpd preset and
// --replay reads the directory named; a --replay that is no directory is a
// usage error, not a fake started without it.
func TestGatewayFakeFlags(t *testing.T) {
	parse := func(args ...string) *options {
		o := defaultOptions()
		fs := pflag.NewFlagSet("gateway", pflag.ContinueOnError)
		fakeFlags(fs, o)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return o
	}
	cfg, err := parse("--miniupnpd", "--replay", "../../testdata/routers/huawei-hg531-v1").fakeConfig()
	if err != nil || !cfg.Miniupnpd || cfg.Replay == nil {
		t.Fatalf("config %+v, err %v", cfg, err)
	}
	if _, err := cfg.Replay.Open("rootDesc.xml"); err != nil {
		t.Errorf("the replay directory: %v", err)
	}
	if cfg, _ := parse().fakeConfig(); cfg.Miniupnpd || cfg.Replay != nil {
		t.Errorf("defaults: %+v", cfg)
	}
	_, err = parse("--replay", "../../testdata/routers/no-such-router").fakeConfig()
	var ue *usageErr
	if !errors.As(err, &ue) {
		t.Errorf("--replay of a missing directory: %v, want a usage error", err)
	}
}
