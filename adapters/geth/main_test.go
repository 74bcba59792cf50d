package geth_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No goroutine of ours (a mapping's renewer, a watcher) may outlive Close.
// geth's p2p.Server leaves its in-memory node database's pool drainer
// running after Stop (upstream's, not ours).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"))
}
