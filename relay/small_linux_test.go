package relay

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"testing"
	"time"
)

// Small writes to a target that stops reading: the relay's writes fill the
// target's buffers until one cannot finish at once, the small-message pump
// waits for the target with the rest in hand, and the data that piled up
// meanwhile is then read in whole buffers and spliced. Every byte must still
// arrive once and in order, and be counted.
func TestTCPSmallWritesToStalledReader(t *testing.T) {
	const chunk, chunks = 1000, 8000
	// stallAfter is how long BytesUp may stay short of what the client
	// wrote before the client takes it that the relay is waiting on the
	// target.
	const stallAfter = 200 * time.Millisecond
	payload := make([]byte, chunk*chunks)
	rand.Read(payload)
	release := make(chan struct{})
	gotUp := make(chan [32]byte, 1)
	target := startTCPServer(t, "tcp", "127.0.0.1:0", func(c *net.TCPConn) {
		<-release
		h := sha256.New()
		io.Copy(h, c)
		gotUp <- [32]byte(h.Sum(nil))
		c.Write([]byte("done"))
		c.CloseWrite()
	})
	r := startRelay(t, &Relay{Target: target.addr()})
	c := dialTCP(t, tcpAddrOf(t, r))
	stalled := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		waiting := true
		for i := 0; i < chunks; i++ {
			if _, err := c.Write(payload[i*chunk : (i+1)*chunk]); err != nil {
				errc <- err
				return
			}
			// One chunk at a time until the relay stops getting them
			// through, so that its reads stay small.
			deadline := time.Now().Add(stallAfter)
			for waiting && r.Stats().BytesUp < uint64((i+1)*chunk) {
				if time.Now().After(deadline) {
					waiting = false
					close(stalled)
					break
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
		if waiting {
			close(stalled) // never stalled: the test fails below
		}
		errc <- c.CloseWrite()
	}()
	select {
	case <-stalled:
	case <-time.After(30 * time.Second):
		t.Fatal("the client never finished writing")
	}
	if got := r.Stats().BytesUp; got >= uint64(len(payload)) {
		t.Fatalf("all %d bytes got through to a target that does not read", got)
	}
	close(release)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(resp, []byte("done")) {
		t.Fatalf("answer %q, %v; want %q and EOF; %+v", resp, err, "done", r.Stats())
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if <-gotUp != sha256.Sum256(payload) {
		t.Fatal("client to target: payload differs")
	}
	c.Close()
	eventually(t, 2*time.Second, "connection to end", func() bool { return r.Stats().ActiveConns == 0 })
	if st := r.Stats(); st.BytesUp != uint64(len(payload)) || st.BytesDown != 4 {
		t.Fatalf("stats = %+v, want BytesUp %d, BytesDown 4", st, len(payload))
	}
}
