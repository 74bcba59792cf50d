module github.com/upnpmap/upnpmap/bench/peers

go 1.24.0

require (
	github.com/huin/goupnp v1.3.1
	github.com/jackpal/gateway v1.0.6
	github.com/jackpal/go-nat-pmp v1.1.0
	github.com/libp2p/go-nat v0.2.0
)

require (
	github.com/google/gopacket v1.1.19 // indirect
	github.com/koron/go-ssdp v0.0.4 // indirect
	github.com/libp2p/go-netroute v0.2.1 // indirect
	golang.org/x/net v0.10.0 // indirect
	golang.org/x/sync v0.2.0 // indirect
	golang.org/x/sys v0.8.0 // indirect
)
