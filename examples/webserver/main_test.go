package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"go.uber.org/goleak"
)

// TestMain checks that nothing the example started outlives it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWebserver: the server maps its port at start-up, serves, and deletes
// the mapping when it stops.
func TestWebserver(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", 8080, gw.Addr().String()) }()

	var port uint16
	for deadline := time.Now().Add(10 * time.Second); port == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no mapping appeared on the router")
		}
		for _, m := range gw.Mappings() {
			if m.ExternalPort == 8080 {
				port = m.InternalPort
			}
		}
	}
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(int(port)) + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "Public address: http://203.0.113.7:8080/") {
		t.Errorf("body %q", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Errorf("the mapping outlived the server: %+v", m)
	}
	http.DefaultClient.CloseIdleConnections()
}
