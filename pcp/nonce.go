package pcp

import (
	"crypto/rand"
	"encoding/hex"
)

// Nonce is the 96-bit mapping nonce of MAP and PEER (RFC 6887 §11.1). The
// server ties a mapping to it: renewals and the delete must carry the same
// nonce, and a response is ours only if it echoes it.
type Nonce [12]byte

// NewNonce returns a random nonce from crypto/rand.
func NewNonce() Nonce {
	var n Nonce
	rand.Read(n[:]) // never fails since Go 1.24; on failure the runtime crashes instead
	return n
}

// IsZero reports whether n is all zeros, which Client.Map takes as "pick a
// fresh one".
func (n Nonce) IsZero() bool { return n == Nonce{} }

func (n Nonce) String() string { return hex.EncodeToString(n[:]) }
