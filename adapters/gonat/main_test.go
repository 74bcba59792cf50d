package gonat_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No goroutine of ours (a mapping's renewer, a watcher) may outlive Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
