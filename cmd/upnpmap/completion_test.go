package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBashCompletion runs the generated bash script's completion function
// the way bash does on TAB, and checks what it offers.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed to test the bash completion script")
	}
	e := newEnv(t)
	script := filepath.Join(t.TempDir(), "upnpmap.bash")
	if err := os.WriteFile(script, []byte(e.mustRun("completion", "bash").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) string {
		t.Helper()
		line := `source "$1"; COMP_WORDS=(` + strings.Join(words, " ") + `); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _upnpmap; echo "${COMPREPLY[*]}"`
		out, err := exec.Command(bash, "-c", line, "bash", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", words, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, tt := range []struct {
		words []string
		want  string
	}{
		{[]string{"upnpmap", "dis"}, "discover"},
		{[]string{"upnpmap", "add", "--li"}, "--lifetime"},
		{[]string{"upnpmap", "-g", "10.0.0.1", "add", "--li"}, "--lifetime"},
		{[]string{"upnpmap", "ip", "--method", "na"}, "natpmp"},
		{[]string{"upnpmap", "completion", "fi"}, "fish"},
	} {
		if got := complete(tt.words...); got != tt.want {
			t.Errorf("%v: completes to %q, want %q", tt.words, got, tt.want)
		}
	}
}

// TestCompletionScriptsAndManPage: zsh and fish scripts and the manual page
// come from the command table, so each names every command; the man page
// documents every exit code.
func TestCompletionScriptsAndManPage(t *testing.T) {
	e := newEnv(t)
	zsh := e.mustRun("completion", "zsh").stdout
	fish := e.mustRun("completion", "fish").stdout
	man := e.mustRun("help", "--man").stdout
	if !strings.HasPrefix(zsh, "#compdef upnpmap") || !strings.HasPrefix(man, ".TH UPNPMAP 1") {
		t.Errorf("headers: %.40q / %.40q", zsh, man)
	}
	for _, c := range commands {
		if !strings.Contains(zsh, "'"+c.name+":") {
			t.Errorf("zsh script lacks %s", c.name)
		}
		if !strings.Contains(fish, " -a "+c.name+" ") {
			t.Errorf("fish script lacks %s", c.name)
		}
		if !strings.Contains(man, `.SS "upnpmap `+roff(c.name)) {
			t.Errorf("man page lacks %s", c.name)
		}
	}
	for _, code := range []string{".B 2\n", ".B 3\n", ".B 4\n", ".B 5\n"} {
		if !strings.Contains(man, code) {
			t.Errorf("man page lacks exit code %q", code)
		}
	}
	if r := e.run("completion", "tcsh"); r.code != exitUsage {
		t.Errorf("completion tcsh: %s", r)
	}
}
