package fleet

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// The columns of a device CSV file (ParseDeviceCSV), in order; the last
// is optional.
var deviceCSVColumns = []string{"id", "model", "firmware", "tags", "token_ttl"}

// MaxCSVDevices bounds the devices of one CSV file.
const MaxCSVDevices = 1_000_000

// CSVDevice is one device read from a CSV file, with its line.
type CSVDevice struct {
	Line int
	NewDevice
}

// CSVError lists every bad line of a device CSV file.
type CSVError struct {
	// Lines holds one message per bad line, "line N: ...", in order.
	Lines []string
}

func (e *CSVError) Error() string {
	return fmt.Sprintf("%d bad line(s):\n  %s", len(e.Lines), strings.Join(e.Lines, "\n  "))
}

// ParseDeviceCSV reads the devices of a factory line's CSV file: a header
// row id,model,firmware,tags[,token_ttl], then one device per row. Tags
// are separated by ';' or '|'; token_ttl is a Go duration ("72h", empty:
// the server's default). Blank lines and lines starting with '#' are
// skipped. Every row is checked as the server checks a registration
// (CheckNewDevice), and an ID listed twice is refused: the error is a
// *CSVError that lists every bad line with its number (the first 1000),
// so that a file is fixed in one pass and imported whole or not at all.
func ParseDeviceCSV(r io.Reader) ([]CSVDevice, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty file: the first line must be the header id,model,firmware,tags[,token_ttl]")
	}
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a spreadsheet's byte order mark
	}
	cols := len(header)
	if cols < 4 || cols > 5 || !headerIs(header, deviceCSVColumns[:cols]) {
		return nil, fmt.Errorf("line 1: the header must be id,model,firmware,tags or id,model,firmware,tags,token_ttl, not %q", strings.Join(header, ","))
	}
	var out []CSVDevice
	var bad []string
	first := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			bad = append(bad, fmt.Sprintf("line %d: %v", pe.Line, pe.Err))
			break // past a quoting error the reader cannot find the next row reliably
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(out) >= MaxCSVDevices {
			return nil, fmt.Errorf("line %d: more than %d devices in one file", line, MaxCSVDevices)
		}
		d, err := csvRow(rec, cols)
		if err == nil {
			if l, dup := first[d.ID]; dup {
				err = fmt.Errorf("device %s is already on line %d", d.ID, l)
			}
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %s", line, strings.TrimPrefix(err.Error(), ErrBadRequest.Error()+": ")))
			if len(bad) >= 1000 {
				bad = append(bad, "(further lines not checked)")
				break
			}
			continue
		}
		first[d.ID] = line
		out = append(out, CSVDevice{Line: line, NewDevice: d})
	}
	if bad != nil {
		return nil, &CSVError{Lines: bad}
	}
	if len(out) == 0 {
		return nil, errors.New("no device in the file (only the header)")
	}
	return out, nil
}

func headerIs(got, want []string) bool {
	for i := range want {
		if !strings.EqualFold(strings.TrimSpace(got[i]), want[i]) {
			return false
		}
	}
	return true
}

// csvRow turns one record into a device and checks it.
func csvRow(rec []string, cols int) (NewDevice, error) {
	if len(rec) != cols {
		return NewDevice{}, fmt.Errorf("%d fields, the header has %d", len(rec), cols)
	}
	f := func(i int) string { return strings.TrimSpace(rec[i]) }
	d := NewDevice{ID: f(0), Model: f(1), Firmware: f(2)}
	for _, t := range strings.FieldsFunc(f(3), func(r rune) bool { return r == ';' || r == '|' }) {
		if t = strings.TrimSpace(t); t != "" {
			d.Tags = append(d.Tags, t)
		}
	}
	if cols == 5 && f(4) != "" {
		ttl, err := time.ParseDuration(f(4))
		if err != nil || ttl <= 0 {
			return d, fmt.Errorf("token_ttl %q is not a duration like 72h", f(4))
		}
		d.TokenTTL = ttl
	}
	return d, CheckNewDevice(d)
}
