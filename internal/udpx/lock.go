package udpx

import (
	"context"
	"sync"
)

// Lock is a mutex whose Lock gives up when a context ends. Both protocols
// want one request in flight per gateway (RFC 6886 §3.1), and a caller
// waiting behind a slow exchange must still be able to leave. The zero value
// is unlocked. A Lock must not be copied after first use.
type Lock struct {
	once sync.Once
	ch   chan struct{}
}

// Lock takes the lock, or returns ctx.Err() if the context ends first.
func (l *Lock) Lock(ctx context.Context) error {
	l.once.Do(func() { l.ch = make(chan struct{}, 1) })
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case l.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unlock releases a lock taken by Lock.
func (l *Lock) Unlock() { <-l.ch }
