package sshfwd

import (
	"errors"
	"strings"
	"testing"
)

func TestServerTextIsCleanedButStillMatches(t *testing.T) {
	inner := errors.New("disconnect: \x1b[2Jbye\u202eevil\nnext line")
	err := cleaned("ssh: host: ", inner)
	msg := err.Error()
	if strings.ContainsAny(msg, "\x1b\u202e\n") {
		t.Fatalf("control or bidi characters survive: %q", msg)
	}
	if !strings.HasPrefix(msg, "ssh: host: disconnect:") || !strings.Contains(msg, "bye") {
		t.Fatalf("message lost its content: %q", msg)
	}
	if !errors.Is(err, inner) {
		t.Fatal("errors.Is does not see the server's error")
	}
}
