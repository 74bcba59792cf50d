package reach

import "errors"

var (
	// ErrCheckerDown: the checker could not be reached (connection refused,
	// no route, ICMP unreachable).
	ErrCheckerDown = errors.New("reach: checker is down or unreachable")
	// ErrCheckerSlow: the checker accepted the request but gave no answer in
	// time (or, over UDP, nothing came back at all). It wraps the context's
	// error where one applies.
	ErrCheckerSlow = errors.New("reach: no answer from the checker in time")
	// ErrBadAnswer: the checker (or STUN server) answered with something that
	// is not a valid answer to our request: wrong size, magic, version, type,
	// nonce or transaction ID, or a malformed attribute.
	ErrBadAnswer = errors.New("reach: malformed answer")
	// ErrLimited: the checker refused to probe because this source is over its
	// rate limit or the checker is busy. Try again later.
	ErrLimited = errors.New("reach: checker rate limit or probe cap reached")
	// ErrRejected: the checker said our request was malformed or of a version
	// it does not speak.
	ErrRejected = errors.New("reach: checker rejected the request")
	// ErrBadRequest: a message received by the server is not a valid request.
	ErrBadRequest = errors.New("reach: malformed request")
	// ErrSTUN: a STUN server answered with an error response.
	ErrSTUN = errors.New("reach: STUN error response")
)

// STUNError is a STUN error response (RFC 8489 §14.8). It wraps [ErrSTUN].
type STUNError struct {
	Code   int    // 300..699, e.g. 420 Unknown Attribute
	Reason string // the server's reason phrase, cleaned of control characters
}

func (e *STUNError) Error() string {
	if e.Reason == "" {
		return "reach: STUN error " + itoa(e.Code)
	}
	return "reach: STUN error " + itoa(e.Code) + " " + e.Reason
}

// Unwrap lets errors.Is(err, ErrSTUN) hold.
func (e *STUNError) Unwrap() error { return ErrSTUN }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
