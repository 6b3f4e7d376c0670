package stream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// Encoder writes the SSE wire format: for each event an "id:" line (when
// it has an ID), an "event:" line, one "data:" line per line of data, and
// a blank line; comments are lines starting with ":".
type Encoder struct {
	w   io.Writer
	buf bytes.Buffer
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder { return &Encoder{w: w} }

// Event writes one event; id may be empty (control events). Newlines in
// id or typ are replaced by spaces (they would end the field); data loses
// its carriage returns and is split on newlines into several data lines,
// which a parser joins back (a final newline is a line end, not data).
func (e *Encoder) Event(id string, typ Type, data []byte) error {
	e.buf.Reset()
	if id != "" {
		e.field("id", []byte(id), true)
	}
	e.field("event", []byte(typ), true)
	lines := 0
	for line := range bytes.Lines(bytes.ReplaceAll(data, []byte{'\r'}, nil)) {
		e.field("data", bytes.TrimSuffix(line, []byte{'\n'}), false)
		lines++
	}
	if lines == 0 { // an event needs a data line to be dispatched
		e.field("data", nil, false)
	}
	e.buf.WriteByte('\n')
	_, err := e.w.Write(e.buf.Bytes())
	return err
}

func (e *Encoder) field(name string, v []byte, oneLine bool) {
	e.buf.WriteString(name)
	e.buf.WriteString(": ")
	for _, c := range v {
		switch {
		case oneLine && (c == '\n' || c == '\r' || c == 0):
			e.buf.WriteByte(' ')
		default:
			e.buf.WriteByte(c)
		}
	}
	e.buf.WriteByte('\n')
}

// Comment writes a comment line (a heartbeat), which clients ignore.
func (e *Encoder) Comment(text string) error {
	_, err := io.WriteString(e.w, ": "+string(bytes.ReplaceAll([]byte(text), []byte{'\n'}, []byte{' '}))+"\n\n")
	return err
}

// Alive reports whether the client's credentials are still valid; an
// error ends the stream.
type Alive func(ctx context.Context) error

// Serve writes sub to an HTTP response as text/event-stream until the
// client goes away, the subscription ends (overflow: a final overflow
// event; Disconnect or Close: the response just ends) or alive fails
// (checked every Options.Recheck; nil: never). It lifts the server's read
// deadline and sets a write deadline of Options.WriteTimeout per write,
// so that the http.Server's ReadTimeout and WriteTimeout do not cut a
// stream that is working, and a client that takes nothing is cut.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, sub *Subscription, alive Alive) error {
	defer sub.Close()
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	enc := NewEncoder(w)
	deadline := func(t time.Time) error {
		if err := rc.SetWriteDeadline(t); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}
	// Each write has WriteTimeout; between writes there is no deadline (an
	// HTTP/2 stream is reset when its deadline passes, even while idle).
	write := func(f func() error) error {
		if err := deadline(time.Now().Add(h.opts.WriteTimeout)); err != nil {
			return err
		}
		if err := f(); err != nil {
			return err
		}
		if err := rc.Flush(); err != nil {
			return err
		}
		return deadline(time.Time{})
	}
	w.WriteHeader(http.StatusOK)
	if err := write(func() error { return enc.Comment("ward live stream") }); err != nil {
		return err
	}
	if sub.Reset {
		if err := write(func() error { return enc.Event("", Reset, []byte("{}")) }); err != nil {
			return err
		}
	}
	for _, e := range sub.Replay {
		if err := write(func() error { return enc.Event(e.ID, e.Type, e.Data) }); err != nil {
			return err
		}
	}
	heartbeat := time.NewTicker(h.opts.Heartbeat)
	defer heartbeat.Stop()
	recheck := time.NewTicker(h.opts.Recheck)
	defer recheck.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case e, ok := <-sub.C:
			if !ok {
				if sub.Overflowed() {
					return write(func() error {
						return enc.Event("", Overflow, []byte(`{"reason":"the client did not keep up; reconnect with Last-Event-ID"}`))
					})
				}
				return nil
			}
			if err := write(func() error { return enc.Event(e.ID, e.Type, e.Data) }); err != nil {
				return err
			}
		case <-heartbeat.C:
			if err := write(func() error { return enc.Comment("heartbeat") }); err != nil {
				return err
			}
		case <-recheck.C:
			if alive == nil {
				continue
			}
			if err := alive(r.Context()); err != nil {
				return err
			}
		}
	}
}
