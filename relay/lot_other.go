//go:build !linux

package relay

// lot exists on Linux only; elsewhere directions never park.
type lot struct{}

type lotState struct{}

func newLot(*server) (*lot, error) { return nil, nil }

func (*lot) park(d *direction) bool {
	_ = d.lotState // nothing to keep without a lot
	return false
}
func (*lot) forget(*direction) {}
func (*lot) run()              {}
func (*lot) close()            {}
func (*lot) release()          {}
