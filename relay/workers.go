package relay

// Goroutine reuse.
//
// Every TCP connection needs a goroutine to dial and carry one direction, a
// second for the other direction, and a fresh one each time a parked
// direction wakes. A new goroutine starts with a small stack that the dial
// and the splice path outgrow at once, and the runtime copies it, twice on
// the way: at thousands of connections per second that copying was about a
// sixth of the relay's CPU time. So a goroutine whose task ends waits for
// the next one, with the stack it has grown, instead of exiting. Only a few
// wait at a time (maxIdleWorkers), and once a whole watchdog tick passes
// without a new task they all exit (retireWorkers), so an idle relay keeps
// no spare goroutines or stacks.

// maxIdleWorkers is how many goroutines may wait for a task; beyond that a
// goroutine whose task ended exits.
const maxIdleWorkers = 32

// spawn runs task on a waiting goroutine, or on a new one when none waits.
// The goroutine is counted in s.wg for as long as it lives, so tasks do not
// touch s.wg themselves.
func (s *server) spawn(task func()) {
	s.spawned.Add(1)
	select {
	case s.tasks <- task:
		return
	default:
	}
	s.workersStarted.Add(1)
	s.wg.Add(1)
	go s.worker(task)
}

// worker runs task, then waits for the next one while fewer than
// maxIdleWorkers wait, until everything is cut.
func (s *server) worker(task func()) {
	defer s.wg.Done()
	for {
		task()
		if s.idleWorkers.Add(1) > maxIdleWorkers {
			s.idleWorkers.Add(-1)
			return
		}
		select {
		case task = <-s.tasks:
			s.idleWorkers.Add(-1)
			if task == nil {
				return // retired
			}
		case <-s.cutCtx.Done():
			s.idleWorkers.Add(-1)
			return
		}
	}
}

// retireWorkers ends the waiting goroutines when no task was spawned since
// the watchdog's previous tick. Watchdog only.
func (s *server) retireWorkers() {
	n := s.spawned.Load()
	busy := n != s.spawnedSeen
	s.spawnedSeen = n
	if busy {
		return
	}
	for i := s.idleWorkers.Load(); i > 0; i-- {
		select {
		case s.tasks <- nil:
		default:
			return // none waits any more
		}
	}
}
