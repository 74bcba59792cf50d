package main

import (
	"fmt"
	"sync"
	"time"
)

// progressAfter is how long a wait runs before a progress line appears on
// stderr; a wait shorter than this shows nothing.
const progressAfter = time.Second

// progress shows "waiting for WHAT… Ns" on stderr while a wait longer than
// progressAfter goes on, and returns the function that ends it (and erases
// the line on a terminal). It shows nothing under --json, and only when
// stderr is a terminal (the line is rewritten in place) or -v was given (a
// line per second, among the exchange log).
func (a *app) progress(o *options, what string) (stop func()) {
	if o.json || !(a.stderrTTY || o.verbose) {
		return func() {}
	}
	p := &progressLine{a: a, what: what, tty: a.stderrTTY, done: make(chan struct{}), start: time.Now()}
	p.wg.Add(1)
	go p.show()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(p.done)
			p.wg.Wait()
		})
	}
}

type progressLine struct {
	a     *app
	what  string
	tty   bool
	start time.Time
	done  chan struct{}
	wg    sync.WaitGroup
}

// show is the progress goroutine: it ticks every progressAfter until done.
func (p *progressLine) show() {
	defer p.wg.Done()
	t := time.NewTicker(progressAfter)
	defer t.Stop()
	shown := false
	for {
		select {
		case <-p.done:
			if shown && p.tty {
				fmt.Fprint(p.a.stderr, "\r\033[K") // erase the line
			}
			return
		case now := <-t.C:
			secs := now.Sub(p.start).Round(time.Second)
			if p.tty {
				fmt.Fprintf(p.a.stderr, "\r\033[Kwaiting for %s… %v", p.what, secs)
			} else {
				fmt.Fprintf(p.a.stderr, "waiting for %s… %v\n", p.what, secs)
			}
			shown = true
		}
	}
}
