package gwevent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Version is the first byte of an encoded Event. A change of layout gets a
// new version; a decoder refuses versions it does not know.
const Version byte = 1

// Flag bits of the encoding's third byte.
const (
	flagLive    = 1 << 0
	flagHasTime = 1 << 1
	knownFlags  = flagLive | flagHasTime
)

// ErrEncoding is wrapped by every error UnmarshalBinary returns.
var ErrEncoding = errors.New("bad gateway event encoding")

// MarshalBinary encodes e in the versioned binary form (encoding.BinaryMarshaler).
//
// Layout of version 1, all integers Go's encoding/binary varints:
//
//	byte     version (1)
//	byte     kind (the Kind numbers)
//	byte     flags: 1 live, 2 time present
//	byte     QoS
//	[varint  time: Unix seconds; uvarint nanoseconds]  only when flag 2 is set
//	varint   bytes
//	varint   packet bytes
//	varint   duration in nanoseconds
//	8 times  uvarint length + bytes: device, client ID, remote address,
//	         serial, topic, reason, action, limit name
//	uvarint  payload length + payload
//
// The time is kept to the nanosecond, in UTC; its location and monotonic
// reading are not encoded. Nothing may follow the payload.
func (e *Event) MarshalBinary() ([]byte, error) {
	return e.AppendBinary(make([]byte, 0, e.size()))
}

// AppendBinary appends the encoding of e to b (encoding.BinaryAppender);
// see MarshalBinary for the layout.
func (e *Event) AppendBinary(b []byte) ([]byte, error) {
	if !e.Kind.Valid() {
		return b, fmt.Errorf("encode gateway event: unknown kind %d", e.Kind)
	}
	var flags byte
	if e.Live {
		flags |= flagLive
	}
	if !e.Time.IsZero() {
		flags |= flagHasTime
	}
	b = append(b, Version, byte(e.Kind), flags, e.QoS)
	if !e.Time.IsZero() {
		b = binary.AppendVarint(b, e.Time.Unix())
		b = binary.AppendUvarint(b, uint64(e.Time.Nanosecond()))
	}
	b = binary.AppendVarint(b, int64(e.Bytes))
	b = binary.AppendVarint(b, int64(e.PacketBytes))
	b = binary.AppendVarint(b, int64(e.Duration))
	for _, s := range [...]string{e.Device, e.ClientID, e.RemoteAddr, e.Serial, e.Topic, e.Reason, e.Action, e.LimitName} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Payload)))
	return append(b, e.Payload...), nil
}

// size is an upper bound of the encoded size of e.
func (e *Event) size() int {
	n := 4 + 2*binary.MaxVarintLen64 + 3*binary.MaxVarintLen64 + 9*binary.MaxVarintLen64 + len(e.Payload)
	for _, s := range [...]string{e.Device, e.ClientID, e.RemoteAddr, e.Serial, e.Topic, e.Reason, e.Action, e.LimitName} {
		n += len(s)
	}
	return n
}

// UnmarshalBinary decodes an Event from its binary form
// (encoding.BinaryUnmarshaler), replacing all of e. The strings and the
// payload are copies: data may be reused afterwards. An error wraps
// ErrEncoding and leaves e unchanged.
func (e *Event) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	var out Event
	if len(data) < 4 {
		return fmt.Errorf("%w: %d bytes, shorter than the 4-byte header", ErrEncoding, len(data))
	}
	if data[0] != Version {
		return fmt.Errorf("%w: version %d, this build reads version %d", ErrEncoding, data[0], Version)
	}
	out.Kind = Kind(data[1])
	if !out.Kind.Valid() {
		return fmt.Errorf("%w: unknown kind %d", ErrEncoding, data[1])
	}
	flags := data[2]
	if flags&^knownFlags != 0 {
		return fmt.Errorf("%w: unknown flags %#x", ErrEncoding, flags&^knownFlags)
	}
	out.Live = flags&flagLive != 0
	out.QoS = data[3]
	d.b = data[4:]
	if flags&flagHasTime != 0 {
		sec := d.varint("time")
		nsec := d.uvarint("time nanoseconds")
		if d.err == nil && nsec >= uint64(time.Second) {
			d.fail("time nanoseconds %d out of range", nsec)
		}
		if d.err == nil {
			out.Time = time.Unix(sec, int64(nsec)).UTC()
		}
	}
	out.Bytes = int(d.varint("bytes"))
	out.PacketBytes = int(d.varint("packet bytes"))
	out.Duration = time.Duration(d.varint("duration"))
	for _, f := range [...]struct {
		p    *string
		name string
	}{{&out.Device, "device"}, {&out.ClientID, "client ID"}, {&out.RemoteAddr, "remote address"}, {&out.Serial, "serial"},
		{&out.Topic, "topic"}, {&out.Reason, "reason"}, {&out.Action, "action"}, {&out.LimitName, "limit name"}} {
		*f.p = string(d.bytes(f.name))
	}
	if p := d.bytes("payload"); len(p) > 0 {
		out.Payload = append([]byte(nil), p...)
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the payload", len(d.b))
	}
	if d.err != nil {
		return d.err
	}
	*e = out
	return nil
}

// decoder reads varints and length-prefixed fields, keeping the first
// error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrEncoding}, args...)...)
	}
}

func (d *decoder) varint(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("%s: truncated or overlong varint", field)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("%s: truncated or overlong varint", field)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes reads a length-prefixed field; the result aliases the input.
func (d *decoder) bytes(field string) []byte {
	n := d.uvarint(field + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("%s: length %d, only %d bytes left", field, n, len(d.b))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
