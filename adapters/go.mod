module github.com/upnpmap/upnpmap/adapters

go 1.26.0

require (
	github.com/libp2p/go-nat v0.2.0
	github.com/upnpmap/upnpmap v0.0.0-00010101000000-000000000000
)

require (
	github.com/huin/goupnp v1.3.1 // indirect
	github.com/jackpal/go-nat-pmp v1.1.0 // indirect
	github.com/koron/go-ssdp v0.9.2 // indirect
	github.com/libp2p/go-netroute v0.4.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/upnpmap/upnpmap => ../
