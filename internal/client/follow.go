package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"mime"
	"net/http"
	"time"

	"github.com/wardproject/ward/internal/buildinfo"
)

// FollowOptions tune Follow; zero fields take the defaults.
type FollowOptions struct {
	// MinBackoff and MaxBackoff bound the wait before a reconnection; it
	// doubles after each failed attempt (default 1s and 30s).
	MinBackoff, MaxBackoff time.Duration
	// Idle is how long a stream may stay silent (the server writes a
	// heartbeat every 15 s) before it is taken as cut (default 60s).
	Idle time.Duration
	// Opened is called each time the stream is (re)opened, before any of
	// its events: first is true the first time. An error stops Follow.
	Opened func(first bool) error
}

// Follow reads the event stream at path (GET /api/v1/stream?...) and calls
// fn for each event until ctx is done (it then returns ctx.Err()) or fn
// returns an error. A cut stream, a 5xx or a 429 is retried with
// exponential backoff and the Last-Event-ID of the last event received,
// so that the server replays what was missed; the server's "reset" and
// "overflow" events are passed to fn like any other. Any other refusal
// (401 for a revoked token, 403, 400) is returned as an *Error, and so is
// any failure before the stream first opened.
func (c *Client) Follow(ctx context.Context, path string, opts FollowOptions, fn func(Event) error) error {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.Idle <= 0 {
		opts.Idle = 60 * time.Second
	}
	lastID := ""
	first := true
	backoff := opts.MinBackoff
	for {
		opened, err := c.followOnce(ctx, path, &lastID, opts, first, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fe *followError
		switch {
		case errors.As(err, &fe):
			return fe.err
		case first && !opened:
			return err // never connected: a wrong address or a server down, say so now
		case opened:
			first = false
			backoff = opts.MinBackoff // it worked for a while: start again from the shortest wait
		}
		// Jitter so that clients cut together do not return together; not
		// security-relevant, so math/rand.
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if !opened {
			backoff = min(2*backoff, opts.MaxBackoff)
		}
	}
}

// followError is an error that stops Follow (not retried).
type followError struct{ err error }

func (e *followError) Error() string { return e.err.Error() }

// followOnce reads one connection of the stream. It reports whether the
// stream opened; an error wrapped in *followError must not be retried.
func (c *Client) followOnce(ctx context.Context, path string, lastID *string, opts FollowOptions, first bool, fn func(Event) error) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return false, &followError{err}
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("User-Agent", buildinfo.UserAgent())
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if *lastID != "" {
		req.Header.Set("Last-Event-ID", *lastID)
	}
	resp, err := c.stream.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := c.answerError(resp, http.MethodGet, path)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return false, err
		}
		return false, &followError{err}
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, &followError{fmt.Errorf("GET %s: the server answered %s, not an event stream", path, mt)}
	}
	if opts.Opened != nil {
		if err := opts.Opened(first); err != nil {
			return true, &followError{err}
		}
	}
	idle := time.AfterFunc(opts.Idle, cancel)
	defer idle.Stop()
	p := NewSSEReader(resp.Body)
	p.LastID = *lastID
	p.seen = func() { idle.Reset(opts.Idle) }
	for {
		e, err := p.Next()
		if err != nil {
			return true, err // cut: reconnect
		}
		*lastID = p.LastID
		if err := fn(e); err != nil {
			return true, &followError{err}
		}
	}
}
