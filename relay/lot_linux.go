package relay

import (
	"errors"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// lot is where idle TCP directions wait without a goroutine (see pump.go): an
// epoll instance of its own, separate from the runtime's netpoller, with each
// parked source socket registered one-shot, and one goroutine that waits on
// it and starts a direction's goroutine when its socket becomes readable.
//
// Registration happens inside RawConn.Control, so the descriptor is valid
// while epoll_ctl runs; when the socket is closed later the kernel drops the
// registration with it. Events carry an id, never a descriptor, so an event
// for a direction that ended meanwhile finds nothing and is ignored.
type lot struct {
	s    *server
	ep   int // epoll instance
	stop int // eventfd: written once to end run

	mu     sync.Mutex
	nextID uint64
	parked map[uint64]*direction
	ids    map[*direction]uint64
}

const lotStopID = 0

// lotState is what the lot keeps in each direction.
type lotState struct {
	raw        syscall.RawConn // src's, for epoll_ctl
	registered bool            // src is in the epoll set (EPOLL_CTL_MOD from now on)
}

// rawConn returns src's RawConn, made once.
func (d *direction) rawConn() syscall.RawConn {
	if d.raw == nil {
		raw, err := d.src.SyscallConn()
		if err != nil {
			return nil
		}
		d.raw = raw
	}
	return d.raw
}

// wake is called by the lot when src became readable.
func (d *direction) wake() {
	if !d.state.CompareAndSwap(dirParked, dirFlowing) {
		return // ended meanwhile
	}
	d.c.s.spawn(d.flow)
}

func newLot(s *server) (*lot, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(ep)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setEventID(&ev, lotStopID)
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, stop, &ev); err != nil {
		unix.Close(ep)
		unix.Close(stop)
		return nil, err
	}
	return &lot{s: s, ep: ep, stop: stop, nextID: lotStopID + 1,
		parked: make(map[uint64]*direction), ids: make(map[*direction]uint64)}, nil
}

func setEventID(ev *unix.EpollEvent, id uint64) {
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// park registers d's source and reports true, after which the caller's
// goroutine must return: the lot owns the direction until it wakes it. It
// reports false (and d stays flowing) when the socket cannot be registered,
// i.e. it is being closed.
func (l *lot) park(d *direction) bool {
	if d.rawConn() == nil {
		return false
	}
	l.mu.Lock()
	id := l.nextID
	l.nextID++
	l.parked[id] = d
	l.ids[d] = id
	l.mu.Unlock()
	d.state.Store(dirParked)
	l.s.parks.Add(1)

	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	setEventID(&ev, id)
	var ctlErr error
	err := d.raw.Control(func(fd uintptr) {
		op := unix.EPOLL_CTL_MOD
		if !d.registered {
			op = unix.EPOLL_CTL_ADD
		}
		ctlErr = unix.EpollCtl(l.ep, op, int(fd), &ev)
		if ctlErr == nil {
			d.registered = true
		}
	})
	if err == nil {
		err = ctlErr
	}
	if err == nil {
		return true
	}
	// Not registered, so no event will come: take the direction back,
	// unless an abort already ended it.
	l.forget(d)
	if !d.state.CompareAndSwap(dirParked, dirFlowing) {
		return true // unpark ended it; nothing left for the caller
	}
	return false
}

func (l *lot) forget(d *direction) {
	l.mu.Lock()
	if id, ok := l.ids[d]; ok {
		delete(l.ids, d)
		delete(l.parked, id)
	}
	l.mu.Unlock()
}

// run waits for parked sockets to become readable and wakes their
// directions, until close.
func (l *lot) run() {
	defer l.s.wg.Done()
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(l.ep, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			// Cannot happen with a valid epoll descriptor; without the
			// lot, parked directions would hang, so stop the relay.
			l.s.fail(err)
			return
		}
		for i := range events[:n] {
			id := eventID(&events[i])
			if id == lotStopID {
				return
			}
			l.mu.Lock()
			d := l.parked[id]
			if d != nil {
				delete(l.parked, id)
				delete(l.ids, d)
			}
			l.mu.Unlock()
			if d != nil {
				d.wake()
			}
		}
	}
}

// close ends run; the caller waits for it (server.wg) before release.
func (l *lot) close() {
	var one = [8]byte{1}
	unix.Write(l.stop, one[:])
}

func (l *lot) release() {
	unix.Close(l.ep)
	unix.Close(l.stop)
}
