package relay

import (
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The small-message pump.
//
// Most connections carry small messages: a request, an answer, a few lines of
// a protocol. Splicing one of them costs three splice calls per hop (into the
// pipe, out of it, and one more that finds the socket empty) plus a pipe from
// the runtime's pool, where a read and a write move it with two system calls.
// So a direction starts with reads and writes made inside src's
// RawConn.Read: a read that leaves the socket empty is followed directly by
// the wait for the next edge, with no read that only finds nothing (the
// runtime keeps, within one RawConn.Read, every edge that came after its
// start). Once a single read fills a whole buffer the data is bulk, and the
// direction splices (see flow) for the rest of the slice.
//
// A buffer is taken from a pool only when a read is about to be made and
// given back before waiting, so a waiting direction holds none.

// canPumpSmall says that pumpSmall is available.
const canPumpSmall = true

// smallBufSize is the read size of the small-message pump; a read that fills
// it turns the direction to splicing.
const smallBufSize = 16 << 10

var smallBufs = sync.Pool{New: func() any { return new([smallBufSize]byte) }}

// Why pumpSmall returned.
const (
	smallQuiet  = iota // src's read deadline passed (err says which)
	smallEOF           // src reached EOF; everything before it was written
	smallBulk          // a read filled the buffer: splice from now on
	smallFailed        // a read or write failed (err)
)

// pumpSmall moves bytes from src to dst by read and write until one of the
// outcomes above, and returns how many bytes it moved. Bytes are counted as
// they are written, so the counters are current while it runs.
func (d *direction) pumpSmall() (moved int64, outcome int, err error) {
	src := d.rawConn()
	if src == nil {
		_, err := d.src.SyscallConn()
		return 0, smallFailed, err
	}
	if d.dstRaw == nil {
		raw, err := d.dst.SyscallConn()
		if err != nil {
			return 0, smallFailed, err
		}
		d.dstRaw = raw
	}
	for {
		var (
			buf     *[smallBufSize]byte
			pending []byte // read but not yet written: dst was full
			stop    = -1
			opErr   error
		)
		err := src.Read(func(fd uintptr) bool {
			buf = smallBufs.Get().(*[smallBufSize]byte)
			n, rerr := readNoIntr(int(fd), buf[:])
			switch {
			case rerr == unix.EAGAIN:
				// Nothing (more) to read: wait without a buffer.
				smallBufs.Put(buf)
				buf = nil
				return false
			case rerr != nil:
				stop, opErr = smallFailed, os.NewSyscallError("read", rerr)
				return true
			case n == 0:
				stop = smallEOF
				return true
			}
			d.copying.Store(true)
			w, werr := d.writeNow(buf[:n])
			if w > 0 {
				d.count(int64(w))
				moved += int64(w)
			}
			switch {
			case werr == unix.EAGAIN:
				// dst is full: finish the write outside this read, where
				// no lock of src is held while it waits.
				pending = buf[w:n]
				return true
			case werr != nil:
				d.copying.Store(false)
				stop, opErr = smallFailed, os.NewSyscallError("write", werr)
				return true
			}
			d.copying.Store(false)
			if n == smallBufSize {
				stop = smallBulk
				return true
			}
			// A short read drained the socket: wait for the next edge.
			smallBufs.Put(buf)
			buf = nil
			return false
		})
		if pending != nil {
			w, werr := d.dst.Write(pending)
			if w > 0 {
				d.count(int64(w))
				moved += int64(w)
			}
			d.copying.Store(false)
			if werr != nil {
				stop, opErr = smallFailed, werr
			}
		}
		if buf != nil {
			smallBufs.Put(buf)
		}
		switch {
		case err != nil:
			return moved, smallQuiet, err
		case stop >= 0:
			return moved, stop, opErr
		}
		// Only a pending write ends the read without a stop: read on.
	}
}

// writeNow writes b to dst without waiting, as far as dst takes it.
func (d *direction) writeNow(b []byte) (int, error) {
	w := 0
	var werr error
	err := d.dstRaw.Control(func(fd uintptr) {
		for w < len(b) {
			n, err := unix.Write(int(fd), b[w:])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				werr = err
				return
			}
			w += n
		}
	})
	if err != nil {
		return w, err
	}
	return w, werr
}

func readNoIntr(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// smallState is what the small-message pump keeps per direction.
type smallState struct {
	dstRaw syscall.RawConn // dst's, for writes without waiting
}
