package relay

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// How a direction moves bytes and stays cheap when idle.
//
// Small messages move by read and write (the small-message pump, see
// small_linux.go); once a read fills a whole buffer, bulk data moves with
// io.Copy between the two concrete *net.TCPConn values, so on Linux the
// runtime splices them through a pipe and they never enter user space. While
// a splice waits for data, though, its goroutine holds a pipe (two
// descriptors) and a grown stack, and an idle connection should cost neither.
// So a direction is in one of three states:
//
//   - flowing: a goroutine runs the small-message pump or io.Copy. Once a
//     call has lasted a slice
//     (server.slice, at most 250 ms), the watchdog interrupts it by setting a
//     read deadline in the past (so short connections never pay for
//     deadlines). A call that moved bytes updates the activity stamp and the
//     counters, and the next call starts;
//   - parked: a whole slice passed without a byte. The goroutine registers
//     the source socket with the server's parking lot (one epoll instance
//     and one goroutine for all connections, see lot_linux.go) and exits, so
//     an idle direction has no goroutine, no stack and no pipe. When the
//     source becomes readable (data, EOF or an error) the lot starts a fresh
//     goroutine, which flows again;
//   - done: EOF was passed on with CloseWrite, or the connection ended.
//
// A read deadline only interrupts the wait for the next chunk: splice drains
// the pipe completely before it reads again, and the small-message pump
// writes what it read before it waits, so no byte is lost at a slice
// boundary. The idle timeout does not touch the sockets: the watchdog
// (server.watch) compares each connection's activity stamp with the clock.
// Writes get no deadline, so a reader that stalls on the other side applies
// back-pressure and, if that lasts IdleTimeout, counts as idle.
//
// Where there is no parking lot (not Linux) a direction simply keeps flowing.

// Direction states.
const (
	dirFlowing int32 = iota
	dirParked
	dirDone
)

// direction is one half of a relayed connection, src to dst.
type direction struct {
	c     *tcpConn
	src   halfConn
	dst   halfConn
	bytes *atomic.Int64  // this connection's count
	total *atomic.Uint64 // the server's count

	state      atomic.Int32
	since      atomic.Int64 // server.now() when the current pump or io.Copy call began
	cut        atomic.Bool  // the watchdog set a read deadline to end it
	copying    atomic.Bool  // bytes in hand, not yet counted (see tcpConn.silent)
	lotState                // what the lot keeps per direction
	smallState              // what the small-message pump keeps (small_linux.go)
}

// count records n bytes written to dst.
func (d *direction) count(n int64) {
	d.bytes.Add(n)
	d.total.Add(uint64(n))
	d.c.last.Store(d.c.s.now())
}

// flow relays until src is quiet for a slice (then parks), reaches EOF or
// fails.
func (d *direction) flow() {
	c := d.c
	if d.cut.Swap(false) {
		// A deadline the watchdog set just before the direction parked.
		if err := d.src.SetReadDeadline(time.Time{}); err != nil {
			d.done(err)
			return
		}
	}
	for {
		d.since.Store(c.s.now())
		// Small messages first (see small_linux.go); only a read that
		// fills a whole buffer leads to io.Copy, so a splice waits (and
		// holds a pipe, two descriptors) only while bulk data flows.
		var small int64
		if canPumpSmall && c.s.lot != nil {
			moved, outcome, err := d.pumpSmall()
			small = moved
			switch outcome {
			case smallEOF:
				d.dst.CloseWrite()
				d.done(nil)
				return
			case smallFailed:
				d.done(err)
				return
			case smallQuiet:
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					d.done(err)
					return
				}
				if moved > 0 {
					if !d.clearCut() {
						return
					}
					continue
				}
				if !d.parkAfterSlice() {
					return
				}
				continue
			}
		}
		d.copying.Store(true)
		n, err := io.Copy(d.dst, d.src)
		if n > 0 {
			d.count(n)
		}
		n += small
		d.copying.Store(false)
		switch {
		case err == nil:
			// EOF from src: pass the half-close on and let the other
			// direction go on until it ends too.
			d.dst.CloseWrite()
			d.done(nil)
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			if n > 0 || c.s.lot == nil {
				if !d.clearCut() {
					return
				}
				continue
			}
			if !d.parkAfterSlice() {
				return
			}
		default:
			d.done(err)
			return
		}
	}
}

// clearCut clears the deadline that ended a slice in which bytes moved, so
// the direction flows on; it reports false when the direction is done.
func (d *direction) clearCut() bool {
	d.cut.Store(false)
	if err := d.src.SetReadDeadline(time.Time{}); err != nil {
		d.done(err)
		return false
	}
	return true
}

// parkAfterSlice clears the deadline that ended a quiet slice and parks the
// direction. It reports false when the caller's goroutine must return (the
// direction is parked or done) and true when it should go on flowing (the lot
// refused because the socket is closing; the next call will see why).
func (d *direction) parkAfterSlice() bool {
	d.cut.Store(false)
	if err := d.src.SetReadDeadline(time.Time{}); err != nil {
		d.done(err)
		return false
	}
	d.c.tuneLate()
	return !d.c.s.lot.park(d)
}

// interrupt ends the direction's current io.Copy if it has run for a slice:
// the watchdog calls it on every tick.
func (d *direction) interrupt(now int64) {
	if d.state.Load() != dirFlowing || now-d.since.Load() < int64(d.c.s.slice) || d.cut.Load() {
		return
	}
	d.cut.Store(true)
	d.src.SetReadDeadline(aLongTimeAgo)
}

// aLongTimeAgo is a deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// done ends the direction once, whoever calls it.
func (d *direction) done(err error) {
	if d.state.Swap(dirDone) == dirDone {
		return
	}
	d.c.dirDone(err)
}

// unpark ends a parked direction: the connection is being aborted and no
// goroutine would otherwise notice.
func (d *direction) unpark() {
	if d.state.CompareAndSwap(dirParked, dirDone) {
		if l := d.c.s.lot; l != nil {
			l.forget(d)
		}
		d.c.dirDone(nil)
	}
}
