package upnpmap

import (
	"context"
	"fmt"

	"github.com/upnpmap/upnpmap/igd"
)

// addNew sends the AddPinhole of a new pinhole and reads its answer even if
// ctx ends while the request is at the gateway. Cut short there, the gateway
// would hold a pinhole that only the answer names (its UniqueID), and nobody
// could remove it: a Close racing Map left one behind (issue 16). So the
// exchange is detached from ctx (cl.Timeout still bounds it); a ctx that
// ended meanwhile gets the pinhole removed (within Client.CloseTimeout) and
// its error returned. Nothing is sent when ctx has already ended.
func (u *upnpPinhole) addNew(ctx context.Context, cl *igd.Client, p igd.Pinhole) (uint16, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	id, err := cl.AddPinhole(context.WithoutCancel(ctx), p)
	if err != nil || ctx.Err() == nil {
		return id, err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.gw.c.closeTimeout())
	defer cancel()
	if rerr := cl.RemovePinhole(rctx, id); rerr != nil && !igd.IsPinholeGone(rerr) {
		u.gw.log.Warn("removing a pinhole opened after Map was given up", "id", id, "err", errText(rerr))
		return 0, fmt.Errorf("%w (and removing pinhole %d, opened meanwhile: %w)", ctx.Err(), id, rerr)
	}
	u.gw.log.Debug("pinhole opened after Map was given up; removed", "id", id)
	return 0, ctx.Err()
}
