package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/reach"
)

func startChecker(t *testing.T) string {
	t.Helper()
	srv := &reach.Server{Addr: "127.0.0.1:0", Burst: 50}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.LocalAddr().String()
}

func freeTCPPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func checkCmdCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCheckCmdJSON(t *testing.T) {
	checker := startChecker(t)
	var out, errb bytes.Buffer
	code := checkMain(checkCmdCtx(t), &out, &errb, []string{freeTCPPort(t), "--checker", checker, "--json", "-4"})
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	var got checkJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v in %q", err, out.String())
	}
	if !got.Open || got.IPv4.Verdict != "open" || !got.IPv4.Verified || !strings.HasPrefix(got.IPv4.Observed, "127.0.0.1:") || got.Proto != "tcp" {
		t.Fatalf("%+v", got)
	}
	if got.IPv6.Verdict != "unchecked" {
		t.Errorf("IPv6 %+v", got.IPv6)
	}
}

func TestCheckCmdNothingListening(t *testing.T) {
	checker := startChecker(t)
	var out, errb bytes.Buffer
	code := checkMain(checkCmdCtx(t), &out, &errb, []string{freeTCPPort(t), "--checker", checker, "--no-answer", "--udp"})
	if code != checkExitUnreachable {
		t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, checkExitUnreachable, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "nothing-listening") || !strings.Contains(out.String(), "SEEN AS") {
		t.Errorf("table:\n%s", out.String())
	}
}

func TestCheckCmdCheckerDown(t *testing.T) {
	var out, errb bytes.Buffer
	code := checkMain(checkCmdCtx(t), &out, &errb, []string{"8080", "--checker", "127.0.0.1:" + freeTCPPort(t)})
	if code != exitTimeout || !strings.Contains(errb.String(), "checkd") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

func TestCheckCmdUsage(t *testing.T) {
	for _, args := range [][]string{
		{"8080"},                          // no checker: there is no default
		{"--checker", "example.org"},      // no port
		{"0", "--checker", "example.org"}, // bad port
		{"8080", "--checker", "x", "-4", "-6"},
		{"8080", "--bogus"},
	} {
		var out, errb bytes.Buffer
		if code := checkMain(context.Background(), &out, &errb, args); code != exitUsage || errb.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q", args, code, errb.String())
		}
	}
	var out bytes.Buffer
	if code := checkMain(context.Background(), &out, &out, []string{"--help"}); code != exitOK || !strings.Contains(out.String(), "--checker") {
		t.Errorf("help: %d %q", code, out.String())
	}
}
