package upnpmap

import "github.com/upnpmap/upnpmap/internal/safetext"

// Router text — fault descriptions, friendly names, mapping descriptions,
// anything a router or a LAN host can put in a message — reaches the
// library's callers and logs only through safetext.Clean: capped, stripped
// of control and bidi characters.

// cleanError is an error whose message carried router text that
// safetext.Clean had to change. Its message is the cleaned one; errors.Is
// and errors.As still see everything it wraps.
type cleanError struct {
	msg string
	err error
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.err }

// cleanErr is err as the public API returns it: unchanged when its message
// is clean, else wrapped with the cleaned message.
func cleanErr(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	if c := safetext.Clean(s, safetext.Long); c != s {
		return &cleanError{msg: c, err: err}
	}
	return err
}

// errText is err's message for a log line, cleaned; "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return safetext.Clean(err.Error(), safetext.Long)
}

// routerText is a short piece of router text (a name, a description, an
// address it reported) made safe to show.
func routerText(s string) string { return safetext.Clean(s, safetext.Short) }
