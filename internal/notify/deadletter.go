package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wardproject/ward/internal/alert"
)

// DeadLetterFileName is the name of the dead-letter file in its directory;
// the previous file, once rotated, gets the suffix ".1".
const DeadLetterFileName = "dead-letters.jsonl"

// DeadLetterRecord is one line of the dead-letter file.
type DeadLetterRecord struct {
	Time         time.Time          `json:"time"` // when the record was written
	Sink         string             `json:"sink"`
	Error        string             `json:"error"`
	Notification alert.Notification `json:"notification"`
}

// DeadLetterFileOptions configure a DeadLetterFile. Dir is required.
type DeadLetterFileOptions struct {
	// Dir holds the file; it is created 0700 when missing.
	Dir string
	// MaxBytes is the size at which the file is rotated to ".1" (replacing
	// an older ".1"), which bounds the disk used to about twice MaxBytes.
	// 0 means 64 MiB.
	MaxBytes int64
	Now      func() time.Time // nil: time.Now
}

// DeadLetterFile is the default DeadLetters: one JSON object (a
// DeadLetterRecord) per line, appended to Dir/dead-letters.jsonl, which is
// created 0600 because notifications describe the fleet's weaknesses. It
// is safe for concurrent use.
type DeadLetterFile struct {
	opts DeadLetterFileOptions
	path string

	mu sync.Mutex // guards writes and rotation of the file at path
}

// NewDeadLetterFile checks the directory (creating it 0700 when missing)
// and returns a DeadLetterFile writing there.
func NewDeadLetterFile(opts DeadLetterFileOptions) (*DeadLetterFile, error) {
	if opts.Dir == "" {
		return nil, &ConfigError{Kind: "dispatcher", Key: "dead_letter_dir", Problem: "required"}
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("notify: create dead-letter directory %s: %w", opts.Dir, err)
	}
	f := &DeadLetterFile{opts: opts, path: filepath.Join(opts.Dir, DeadLetterFileName)}
	if st, err := os.Stat(f.path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("notify: dead-letter file %s is readable by others (mode %v); restrict it: chmod 600 %s",
			f.path, st.Mode().Perm(), f.path)
	}
	return f, nil
}

// Path returns the path of the current dead-letter file.
func (f *DeadLetterFile) Path() string { return f.path }

// DeadLetter appends one record for n.
func (f *DeadLetterFile) DeadLetter(_ context.Context, sink string, n alert.Notification, cause error) error {
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	line, err := json.Marshal(DeadLetterRecord{Time: f.opts.Now().UTC(), Sink: sink, Error: msg, Notification: n})
	if err != nil {
		return fmt.Errorf("encode dead letter: %w", err)
	}
	line = append(line, '\n')
	f.mu.Lock()
	defer f.mu.Unlock()
	if st, err := os.Stat(f.path); err == nil && st.Size()+int64(len(line)) > f.opts.MaxBytes && st.Size() > 0 {
		if err := os.Rename(f.path, f.path+".1"); err != nil {
			return fmt.Errorf("rotate dead-letter file %s: %w", f.path, err)
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stat dead-letter file: %w", err)
	}
	w, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open dead-letter file: %w", err)
	}
	if _, err := w.Write(line); err != nil {
		_ = w.Close()
		return fmt.Errorf("write dead-letter file %s: %w", f.path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write dead-letter file %s: %w", f.path, err)
	}
	return nil
}
