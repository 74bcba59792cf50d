package sshfwd_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/sshfwd"
)

func ExampleParseTarget() {
	t, err := sshfwd.ParseTarget("ssh://alice@[2001:db8::7]:2222")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t.User, t.Addr())
	_, err = sshfwd.ParseTarget("ssh://alice:secret@host")
	fmt.Println(err)
	// Output:
	// alice [2001:db8::7]:2222
	// bad ssh target "ssh://alice:secret@host": user name may not contain ':', '/' or '@' (no passwords in targets)
}

// A local web server made reachable at the SSH server's address, as
// ssh -R 0:localhost:8080 would, against gatewaytest's fake SSH server.
func ExampleRemote() {
	key, _ := ssh.NewSignerFromKey(mustKey())
	srv, err := gatewaytest.StartSSH(gatewaytest.SSHConfig{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "sshfwd-example")
	defer os.RemoveAll(dir)
	knownHosts := filepath.Join(dir, "known_hosts")
	os.WriteFile(knownHosts, []byte(srv.KnownHostsLine()+"\n"), 0o600)

	// The service to publish: it greets whoever connects.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "hello from behind the NAT\n")
			c.Close()
		}
	}()

	server, _ := sshfwd.ParseTarget("ssh://me@" + srv.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fwd, err := sshfwd.Remote(ctx, sshfwd.Config{
		Server:     server,
		Signers:    []ssh.Signer{key}, // or KeyFile, or the agent and ~/.ssh
		KnownHosts: []string{knownHosts},
	}, ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fwd.Close()

	// Anyone who can reach the server can now reach the service.
	c, err := net.Dial("tcp", fwd.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	greeting, _ := io.ReadAll(c)
	fmt.Print(string(greeting))
	// Output: hello from behind the NAT
}
