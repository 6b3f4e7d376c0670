package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// This file parses the event-stream format of server-sent events (WHATWG
// HTML, section 9.2.6) for GET /api/v1/stream; package stream holds the
// server's encoder. It is written here rather than taken from a library
// because the format is small, and the client needs bounds (event size)
// and the Last-Event-ID bookkeeping that reconnection uses.

// Event is one server-sent event.
type Event struct {
	// ID is the event's id field, or the last ID seen before it (the
	// stream's Last-Event-ID; control events carry none).
	ID string
	// Type is the event field ("message" when absent).
	Type string
	// Data is the data fields joined with newlines.
	Data []byte
}

// MaxEventBytes bounds one event's data (an alert with its evidence is a
// few KiB); a longer event is an error, not a memory exhaustion.
const MaxEventBytes = 8 << 20

// ErrEventTooLarge: an event's data or a line exceeds MaxEventBytes.
var ErrEventTooLarge = errors.New("server-sent event larger than 8 MiB")

// SSEReader reads events from a text/event-stream body.
type SSEReader struct {
	r *bufio.Reader
	// LastID is the last event ID seen (the value to send as
	// Last-Event-ID when reconnecting).
	LastID string
	// Retry is the reconnection time the server asked for (0: none).
	Retry time.Duration
	// seen is called on every line, comments included (liveness).
	seen func()

	line    []byte
	data    bytes.Buffer
	typ     string
	hasData bool
}

// NewSSEReader returns a reader of the event stream r.
func NewSSEReader(r io.Reader) *SSEReader { return &SSEReader{r: bufio.NewReader(r)} }

// readLine reads one line ended by CRLF, LF or CR (without it). At the
// end of the input it returns io.EOF, also for an unterminated last line,
// which the format discards.
func (p *SSEReader) readLine() ([]byte, error) {
	p.line = p.line[:0]
	for {
		b, err := p.r.ReadByte()
		if err != nil {
			return nil, err
		}
		switch b {
		case '\n':
			return p.line, nil
		case '\r':
			if next, err := p.r.Peek(1); err == nil && next[0] == '\n' {
				p.r.ReadByte()
			}
			return p.line, nil
		}
		if len(p.line) >= MaxEventBytes {
			return nil, ErrEventTooLarge
		}
		p.line = append(p.line, b)
	}
}

// Next returns the next event. Comments and events without data are
// skipped, as the format says; at the end of the stream it returns
// io.EOF (an event not ended by a blank line is dropped).
func (p *SSEReader) Next() (Event, error) {
	for {
		line, err := p.readLine()
		if err != nil {
			return Event{}, err
		}
		if p.seen != nil {
			p.seen()
		}
		if len(line) == 0 {
			if !p.hasData {
				p.typ = ""
				continue
			}
			e := Event{ID: p.LastID, Type: p.typ, Data: bytes.Clone(bytes.TrimSuffix(p.data.Bytes(), []byte{'\n'}))}
			if e.Type == "" {
				e.Type = "message"
			}
			p.data.Reset()
			p.typ, p.hasData = "", false
			return e, nil
		}
		if line[0] == ':' {
			continue
		}
		name, value, _ := bytes.Cut(line, []byte{':'})
		value = bytes.TrimPrefix(value, []byte{' '})
		switch string(name) {
		case "event":
			p.typ = string(value)
		case "data":
			if p.data.Len()+len(value)+1 > MaxEventBytes {
				return Event{}, ErrEventTooLarge
			}
			p.data.Write(value)
			p.data.WriteByte('\n')
			p.hasData = true
		case "id":
			if !bytes.ContainsRune(value, 0) {
				p.LastID = string(value)
			}
		case "retry":
			if ms, err := strconv.ParseUint(string(value), 10, 32); err == nil {
				p.Retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// String renders an event in the wire format (for messages and tests).
func (e Event) String() string {
	return fmt.Sprintf("id=%q event=%q data=%q", e.ID, e.Type, e.Data)
}
