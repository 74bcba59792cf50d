package pcp

import "time"

// epochState applies RFC 6887 §8.5 to the epoch times one server sends. The
// server's epoch counts seconds since it last lost its state; between two
// responses it must advance about as much as the client's clock did, give or
// take 2 s and 1/16.
type epochState struct {
	have   bool
	server uint32    // prev_server_time
	client time.Time // prev_client_time
}

// observe checks an epoch time received at now and records both times, as
// §8.5 says to do whatever the outcome. It reports whether the epoch is
// invalid, i.e. the server lost its mappings. The first epoch is valid.
func (e *epochState) observe(curr uint32, now time.Time) (invalid bool) {
	if e.have {
		if int64(curr) < int64(e.server)-1 {
			// Time went backwards by more than a second.
			invalid = true
		} else {
			// Signed arithmetic: a server time one second behind (allowed
			// above) must not wrap around into a huge delta.
			clientDelta := int64(now.Sub(e.client) / time.Second)
			if clientDelta < 0 {
				clientDelta = 0
			}
			serverDelta := int64(curr) - int64(e.server)
			invalid = clientDelta+2 < serverDelta-serverDelta/16 ||
				serverDelta+2 < clientDelta-clientDelta/16
		}
	}
	e.have, e.server, e.client = true, curr, now
	return invalid
}
