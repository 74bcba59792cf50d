package gena

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinels that every *Error wraps, by the status it calls for.
var (
	// ErrBadRequest: a required header (NT, NTS, SID, SEQ) is missing or
	// the body is not a property set: answer 400.
	ErrBadRequest = errors.New("gena: bad NOTIFY request")
	// ErrPrecondition: NT or NTS has a value other than upnp:event /
	// upnp:propchange, or the SID is not the subscription's: answer 412.
	ErrPrecondition = errors.New("gena: NOTIFY precondition failed")
	// ErrTooLarge: the body is larger than the limit (answer 400 as well;
	// it is an ErrBadRequest).
	ErrTooLarge = fmt.Errorf("%w: body too large", ErrBadRequest)
)

// Error is a rejected NOTIFY: what was wrong and the status to answer.
type Error struct {
	// Status is http.StatusBadRequest or http.StatusPreconditionFailed.
	Status int
	Msg    string
	err    error
}

func (e *Error) Error() string { return "gena: " + e.Msg }

// Unwrap gives ErrBadRequest or ErrPrecondition (and ErrTooLarge for an
// oversized body).
func (e *Error) Unwrap() error { return e.err }

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...), err: ErrBadRequest}
}

func precondition(format string, args ...any) error {
	return &Error{Status: http.StatusPreconditionFailed, Msg: fmt.Sprintf(format, args...), err: ErrPrecondition}
}
