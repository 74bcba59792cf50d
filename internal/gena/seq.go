package gena

// Expect says what SEQ the event after seq must carry: seq+1, and 1 after
// 4294967295 (0 is only ever the initial event, UDA 1.1 §4.3.2).
func Expect(seq uint32) uint32 {
	if seq == ^uint32(0) {
		return 1
	}
	return seq + 1
}

// Tracker follows the SEQ of one subscription and reports gaps: a lost
// event means the subscriber's copy of the variables may be stale and must
// be read again (for IGD: GetExternalIPAddress). The zero value expects
// the initial event (SEQ 0).
type Tracker struct {
	last    uint32
	started bool
}

// Note records an event's SEQ and reports whether events were missed
// before it. An initial event (0) restarts the count: the device sends it
// for a new or renewed-after-loss subscription, with every variable.
func (t *Tracker) Note(seq uint32) (gap bool) {
	switch {
	case seq == 0:
		gap = false
	case !t.started:
		gap = true // the initial event never came
	default:
		gap = seq != Expect(t.last)
	}
	t.last, t.started = seq, true
	return gap
}
