package pcp

import (
	"math/rand/v2"
	"time"
)

// schedule is the §8.1.1 retransmission schedule:
//
//	RT₁ = (1+RAND)·IRT
//	RTₙ = (2+RAND)·RTₙ₋₁, and (1+RAND)·MRT once that exceeds MRT
//
// with RAND uniform in [-0.1, +0.1] and a fresh RAND for each RT. MRC is 0
// (no limit on the count); the total time is bounded by the caller instead.
type schedule struct {
	irt, mrt time.Duration
	rand     func() float64 // RAND; nil = uniform in [-0.1, +0.1]
	rt       time.Duration
}

// next returns the wait after the next transmission. It never runs out.
func (s *schedule) next() (time.Duration, bool) {
	r := s.rand
	if r == nil {
		r = defaultRand
	}
	if s.rt == 0 {
		s.rt = scale(s.irt, 1+r())
	} else {
		s.rt = scale(s.rt, 2+r())
	}
	if s.mrt > 0 && s.rt > s.mrt {
		s.rt = scale(s.mrt, 1+r())
	}
	return s.rt, true
}

func defaultRand() float64 { return rand.Float64()*0.2 - 0.1 }

func scale(d time.Duration, f float64) time.Duration {
	return time.Duration(float64(d) * f)
}
