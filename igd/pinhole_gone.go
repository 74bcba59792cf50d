package igd

import "errors"

// IsPinholeGone reports whether err says the gateway no longer holds the
// pinhole a UniqueID named, so that the caller should open it again with
// AddPinhole (renewal) or consider it closed (removal):
//
//   - 704 NoSuchEntry from any firewall action, the specification's answer;
//   - 402 Invalid Args from UpdatePinhole, DeletePinhole, GetPinholePackets
//     or CheckPinholeWorking, which is what miniupnpd 2.3.1 with its
//     nftables backend answers for a UniqueID it no longer holds: its
//     lookup does not fail, and the security check then chokes on an
//     uninitialised address. This package sends these actions only a
//     UniqueID and a lease within the allowed range, so a 402 has no other
//     cause.
//
// A 606 is not "gone": on miniupnpd it means the request came from another
// address than the pinhole's InternalClient.
func IsPinholeGone(err error) bool {
	var ue *UPnPError
	if !errors.As(err, &ue) || !isFirewallAction(ue.Action) {
		return false
	}
	switch ue.Code {
	case CodeNoSuchEntry:
		return true
	case CodeInvalidArgs:
		switch ue.Action {
		case actionUpdatePinhole, actionDeletePinhole, actionGetPinholePackets, actionCheckPinholeWorking:
			return true
		}
	}
	return false
}
