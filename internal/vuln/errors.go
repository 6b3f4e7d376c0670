package vuln

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Callers branch on them with errors.Is.
var (
	// ErrTooLarge reports an input over its size limit (an SBOM, an OSV
	// record, a zip archive or one of its entries).
	ErrTooLarge = errors.New("input too large")
	// ErrUnknownFormat reports a JSON document that is neither CycloneDX
	// nor SPDX.
	ErrUnknownFormat = errors.New("not a CycloneDX or SPDX JSON document")
	// ErrInvalid reports a document that breaks its format's rules; the
	// error is also a *DocumentError that names each bad field.
	ErrInvalid = errors.New("invalid document")
)

// FieldError is one problem at one place in a JSON document.
type FieldError struct {
	// Path is the JSON path of the bad field, e.g. "components[3].purl";
	// empty for the document as a whole.
	Path string
	// Msg says what is wrong, worded for the person who must fix the file.
	Msg string
}

// Error returns "path: message".
func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// maxListedProblems bounds how many field errors a DocumentError prints.
const maxListedProblems = 10

// DocumentError reports an SBOM, OSV record or KEV catalogue that cannot be
// used, with every problem found (up to a limit) and where it is.
type DocumentError struct {
	Source   string        // file name or other label given by the caller
	Format   string        // "CycloneDX 1.5", "SPDX", "OSV", "CISA KEV" or "JSON"
	Problems []*FieldError // at least one
	Dropped  int           // problems found but not kept
}

// Error returns the source, the format and every kept problem on one line.
func (e *DocumentError) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source + ": ")
	}
	if e.Format != "" {
		b.WriteString(e.Format + ": ")
	}
	n := len(e.Problems) + e.Dropped
	if n > 1 {
		fmt.Fprintf(&b, "%d problems: ", n)
	}
	for i, p := range e.Problems {
		if i == maxListedProblems {
			fmt.Fprintf(&b, "; and %d more", n-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true for every DocumentError.
func (e *DocumentError) Is(target error) bool { return target == ErrInvalid }

// problems collects field errors with a bound, so that a hostile document
// cannot make the error itself huge.
type problems struct {
	list    []*FieldError
	dropped int
}

const maxProblems = 100

func (p *problems) add(path, format string, args ...any) {
	if len(p.list) >= maxProblems {
		p.dropped++
		return
	}
	p.list = append(p.list, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) err(source, format string) error {
	if len(p.list) == 0 {
		return nil
	}
	return &DocumentError{Source: source, Format: format, Problems: p.list, Dropped: p.dropped}
}
