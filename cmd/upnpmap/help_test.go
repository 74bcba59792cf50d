package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestHelpFitsOneScreen: `upnpmap --help` and every command's help fit an
// 80x24 terminal, and each command's help has its usage line and examples.
func TestHelpFitsOneScreen(t *testing.T) {
	e := newEnv(t)
	check := func(name, out string) {
		t.Helper()
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(lines) > 24 {
			t.Errorf("%s: %d lines, want at most 24:\n%s", name, len(lines), out)
		}
		for _, l := range lines {
			if len(l) > 80 {
				t.Errorf("%s: line of %d columns: %q", name, len(l), l)
			}
		}
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		r := e.mustRun(args...)
		check(strings.Join(args, " "), r.stdout)
		for _, c := range commands {
			if !strings.Contains(r.stdout, "\n  "+c.shortUsage()) {
				t.Errorf("%v does not list %q", args, c.name)
			}
		}
		if !strings.Contains(r.stdout, "2 no gateway found, 3 the router refused, 4 timeout") {
			t.Errorf("%v does not document the exit codes", args)
		}
	}
	for _, c := range commands {
		a := e.mustRun("help", c.name)
		b := e.mustRun(c.name, "--help")
		if a.stdout != b.stdout {
			t.Errorf("`help %s` and `%s --help` differ", c.name, c.name)
		}
		check("help "+c.name, a.stdout)
		if !strings.HasPrefix(a.stdout, "Usage: upnpmap "+c.name) || !strings.Contains(a.stdout, "Examples:\n  upnpmap ") {
			t.Errorf("help %s lacks its usage line or examples:\n%s", c.name, a.stdout)
		}
	}
}

// TestUsageErrors: a command line the CLI cannot use exits 1 and says why,
// with the usage line, on stderr; nothing goes to stdout.
func TestUsageErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Usage: upnpmap COMMAND"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"add"}, "Usage: upnpmap add EXTPORT"},
		{[]string{"add", "0"}, "not a port number"},
		{[]string{"add", "80", "70000"}, "not a port number"},
		{[]string{"add", "80", "router.lan:80"}, "HOST must be an IP address"},
		{[]string{"add", "80", "--relay"}, "--relay needs the HOST:PORT"},
		{[]string{"add", "80", "--lifetime", "500ms"}, "--lifetime"},
		{[]string{"add", "80", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"discover", "extra"}, "too many arguments: extra"},
		{[]string{"discover", "--method", "carrier-pigeon"}, `--method "carrier-pigeon"`},
		{[]string{"discover", "--gateway", "router.lan"}, "not an IP address"},
		{[]string{"discover", "--timeout", "soon"}, "--timeout"},
		{[]string{"delete", "http"}, "not a port number"},
		{[]string{"run"}, "nothing to do"},
		{[]string{"run", "--map", "80:x"}, `--map "80:x"`},
		{[]string{"run", "--map", "80", "--relay", ":8080"}, "LISTEN=TARGET"},
		{[]string{"relay", ":8080"}, "missing arguments"},
		{[]string{"relay", ":8080", "nowhere"}, "TARGET"},
		{[]string{"relay", ":8080", "10.0.0.1:80", "--allow", "everyone"}, "--allow"},
		{[]string{"gateway", "--igd", "3"}, "--igd 3"},
		{[]string{"gateway", "--external", "nope"}, "--external"},
	}
	for _, tt := range tests {
		r := e.run(tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
			t.Errorf("upnpmap %s: want exit 1 and %q on stderr, got %s", strings.Join(tt.args, " "), tt.want, r)
		}
	}
}

func TestVersion(t *testing.T) {
	e := newEnv(t)
	r := e.mustRun("version")
	if !strings.HasPrefix(r.stdout, "upnpmap ") || !strings.Contains(r.stdout, "go1.") {
		t.Errorf("version: %q", r.stdout)
	}
	var v versionJSON
	if err := json.Unmarshal([]byte(e.mustRun("version", "--json").stdout), &v); err != nil || v.Go == "" || v.Version == "" {
		t.Errorf("version --json: %+v, %v", v, err)
	}
	if e.mustRun("--version").stdout != r.stdout {
		t.Error("--version differs from version")
	}
}
