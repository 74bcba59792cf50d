package upnpmap

import (
	"context"
	"errors"
	"fmt"

	"github.com/upnpmap/upnpmap/igd"
	"github.com/upnpmap/upnpmap/pcp"
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

// withdrawFirst deletes the pinhole that the opening MAP (q's, under the
// nonce p.first) may have made, when Map was given up before its answer was
// read (err): the server may hold it, with nobody to renew or remove it. A
// definite refusal made nothing. The delete waits for its answer within
// ProbeTimeout, whatever happened to ctx.
func (p *pcpPinhole) withdrawFirst(ctx context.Context, q *mapReq, err error) {
	var re *pcp.ResultError
	if errors.As(err, &re) {
		return
	}
	p.mu.Lock()
	nonce := p.first
	p.mu.Unlock()
	if nonce.IsZero() {
		return // never sent
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.gw.c.probeTimeout())
	defer cancel()
	derr := p.cl.Delete(dctx, &pcp.MapResponse{
		Nonce: nonce, Protocol: q.proto.ianaNumber(), InternalPort: q.internal.Port(), External: q.internal,
	})
	if derr != nil && !errors.Is(derr, ErrNoSuchEntry) {
		p.gw.log.Debug("withdrawing an unanswered PCP pinhole", "err", errText(derr))
	}
}

// givenUp closes m, a pinhole whose answer arrived after its Map was given
// up (ctx ended; UDP's reply and the cancellation can cross), within
// Client.CloseTimeout, and returns ctx's error: a Map given up returns no
// pinhole and leaves none.
func givenUp(ctx context.Context, m *Mapping) error {
	if err := m.Close(); err != nil {
		return fmt.Errorf("%w (and removing the pinhole opened meanwhile: %w)", ctx.Err(), err)
	}
	return ctx.Err()
}
