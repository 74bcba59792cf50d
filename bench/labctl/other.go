//go:build !linux

// Command labctl builds and tears down the miniupnpd lab of package
// internal/netlab; the lab needs Linux network namespaces.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "labctl: the lab needs Linux network namespaces")
	os.Exit(1)
}
