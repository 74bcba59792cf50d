package main

import (
	"os"
	"runtime/trace"
)

// startTrace writes a Go execution trace of the run to path (read it with
// `go tool trace`): where the goroutines of one mapping wait, between the
// start of main and the reply's arrival and after it. It returns the
// function that ends the trace and closes the file.
func startTrace(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		trace.Stop()
		f.Close()
	}, nil
}
