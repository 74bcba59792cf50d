module github.com/upnpmap/upnpmap

go 1.24.0

require (
	github.com/jackpal/gateway v1.0.6 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
	go.uber.org/goleak v1.3.0 // indirect
	golang.org/x/net v0.50.0 // indirect
	golang.org/x/sys v0.41.0 // indirect
)
