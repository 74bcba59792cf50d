package interop

import (
	"net/http"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		// goupnp fetches descriptions with http.DefaultClient; drop its idle
		// connections so they do not count as leaks.
		http.DefaultClient.CloseIdleConnections()
	}))
}
