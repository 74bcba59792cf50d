package upnpmap

import "time"

// clock is the time source of the renewers. Production uses the wall clock;
// the tests inject a fake one so that renewal schedules of hours run in
// microseconds.
type clock interface {
	Now() time.Time
	NewTimer(d time.Duration) timer
}

// timer is the subset of *time.Timer the renewers use. As with Go 1.23
// timers, Reset and Stop discard a value not yet received.
type timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) NewTimer(d time.Duration) timer { return wallTimer{time.NewTimer(d)} }

type wallTimer struct{ t *time.Timer }

func (w wallTimer) C() <-chan time.Time   { return w.t.C }
func (w wallTimer) Reset(d time.Duration) { w.t.Reset(d) }
func (w wallTimer) Stop()                 { w.t.Stop() }
