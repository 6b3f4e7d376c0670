package vuln

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// readLimited reads all of r, failing with ErrTooLarge past limit bytes.
func readLimited(r io.Reader, limit int64, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is over the %d-byte limit: %w", what, limit, ErrTooLarge)
	}
	return data, nil
}

// lineCol turns a byte offset into 1-based line and column numbers.
func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// jsonProblem turns an encoding/json error into a FieldError with a
// position, so that "unexpected end of JSON input" says where.
func jsonProblem(data []byte, err error) *FieldError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := lineCol(data, int64(len(data)))
		return &FieldError{Msg: fmt.Sprintf("line %d, column %d: unexpected end of JSON input (the document is truncated)", line, col)}
	case errors.As(err, &syn):
		line, col := lineCol(data, syn.Offset)
		msg := syn.Error()
		if syn.Offset >= int64(len(bytes.TrimRight(data, " \t\r\n"))) {
			msg += " (the document is truncated)"
		}
		return &FieldError{Msg: fmt.Sprintf("line %d, column %d: %s", line, col, msg)}
	case errors.As(err, &typ):
		line, col := lineCol(data, typ.Offset)
		return &FieldError{Path: typ.Field, Msg: fmt.Sprintf("line %d, column %d: want %s, got JSON %s", line, col, jsonType(typ.Type.String()), typ.Value)}
	}
	return &FieldError{Msg: err.Error()}
}

func jsonType(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map[") || strings.Contains(goType, "."):
		return "an object"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint") || strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	}
	return goType
}

// idx formats path[i].
func idx(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// dot joins a path and a field name.
func dot(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}
