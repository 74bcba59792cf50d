//go:build !linux

package relay

// canPumpSmall is false where the small-message pump is not built: directions
// use io.Copy from the start.
const canPumpSmall = false

const (
	smallQuiet = iota
	smallEOF
	smallBulk
	smallFailed
)

type smallState struct{}

func (d *direction) pumpSmall() (int64, int, error) {
	_ = d.smallState
	return 0, smallBulk, nil
}
