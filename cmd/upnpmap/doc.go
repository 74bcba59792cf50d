// Command upnpmap opens ports on home routers (PCP, NAT-PMP, UPnP IGD), keeps
// them open, and relays traffic to other hosts when the router maps ports
// only to the host that asks.
//
// Typical use:
//
//	upnpmap discover                         # the gateway, its methods, the external address
//	upnpmap add 8080                         # map external 8080 to port 8080 here, for 2h
//	upnpmap list                             # the router's table and the mappings upnpmap made
//	upnpmap delete 8080
//	upnpmap run --map 80:8080 --relay :8080=192.168.1.5:80   # keep them up until Ctrl-C
//	upnpmap demo                             # all of this against a fake router on loopback
//
// Exit codes: 0 ok, 1 usage (or a local failure), 2 no gateway found, 3 the
// router refused, 4 the router stopped answering. --json prints one JSON
// object per result, one per line; -v logs each protocol step with timings
// to stderr. `upnpmap help COMMAND` shows a command's flags and examples.
//
// The files: main.go and app.go run a command line; command.go and flags.go
// describe the commands and their flags; cmd_*.go are the commands;
// session.go keeps mappings and relays alive (run, add --relay);
// output.go, explain.go and exitcode.go turn results and errors into
// output, messages and exit codes; state.go is the state file.
package main
