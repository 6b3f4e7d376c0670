package eval

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wardproject/ward/internal/netids"
)

// Sequence is a netids.Source that plays several captures one after the
// other as one stream, as `editcap -t` and `mergecap -a` would build it:
// each later capture's timestamps are shifted so that its first packet
// comes Gap after the previous capture's last one, and frames are numbered
// on from 1 across the parts. It lets a capture of attacks alone be scored
// after a benign learning prefix recorded elsewhere.
type Sequence struct {
	// Gap between the last packet of one part and the first of the next.
	Gap   time.Duration
	parts []netids.Source
	names []string
	i     int
	n     uint64
	shift time.Duration
	first bool // the next frame is the first of part i
	last  time.Time
}

// NewSequence returns a Sequence over the parts, named (for errors) by
// names, with a gap of one second.
func NewSequence(names []string, parts ...netids.Source) *Sequence {
	return &Sequence{Gap: time.Second, parts: parts, names: names, first: true}
}

// Next returns the next frame of the stream, io.EOF after the last part.
// An error of a part is returned wrapped with the part's name.
func (q *Sequence) Next() (netids.Frame, error) {
	for q.i < len(q.parts) {
		f, err := q.parts[q.i].Next()
		if errors.Is(err, io.EOF) {
			q.i++
			q.first = true
			continue
		}
		if err != nil {
			return f, fmt.Errorf("part %d (%s) of the sequence: %w", q.i+1, q.name(q.i), err)
		}
		if q.first {
			q.first = false
			q.shift = 0
			if !q.last.IsZero() {
				q.shift = q.last.Add(q.Gap).Sub(f.Info.Timestamp)
			}
		}
		f.Info.Timestamp = f.Info.Timestamp.Add(q.shift)
		q.last = f.Info.Timestamp
		q.n++
		f.Number = q.n
		return f, nil
	}
	return netids.Frame{}, io.EOF
}

func (q *Sequence) name(i int) string {
	if i < len(q.names) {
		return q.names[i]
	}
	return "unnamed"
}
