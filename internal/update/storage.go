package update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Storage keeps target bytes. Put stores the content of r once and files
// it under every name (the consistent-snapshot names of one target,
// <dir>/<hash>.<file>, relative to the repository's targets/ directory).
// An object store can implement it later; DirStorage is the default.
type Storage interface {
	Put(ctx context.Context, names []string, r io.Reader) error
}

// DirStorage stores targets in a directory: each object is written once
// (temp file, fsync, rename) and its other names are hard links to it
// (a copy where the file system has no links).
type DirStorage struct {
	Dir string
}

// Put implements Storage.
func (s DirStorage) Put(ctx context.Context, names []string, r io.Reader) error {
	if len(names) == 0 {
		return errors.New("store target: no name")
	}
	paths := make([]string, len(names))
	for i, n := range names {
		p, err := s.path(n)
		if err != nil {
			return err
		}
		paths[i] = p
	}
	first := paths[0]
	if err := os.MkdirAll(filepath.Dir(first), 0o755); err != nil {
		return fmt.Errorf("store target %s: %w", names[0], err)
	}
	f, err := os.CreateTemp(filepath.Dir(first), ".put-*")
	if err != nil {
		return fmt.Errorf("store target %s: %w", names[0], err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = io.Copy(f, ctxReader{ctx, r})
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, first)
	}
	if err != nil {
		return fmt.Errorf("store target %s: %w", names[0], err)
	}
	for i, p := range paths[1:] {
		if err := linkOrCopy(first, p); err != nil {
			return fmt.Errorf("store target %s: %w", names[i+1], err)
		}
	}
	return nil
}

// Remove deletes the named objects (a failed publish's); absent ones are
// not an error.
func (s DirStorage) Remove(names []string) error {
	var errs []error
	for _, n := range names {
		p, err := s.path(n)
		if err == nil {
			err = os.Remove(p)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// path maps a name to a file under Dir, refusing one that would leave it.
func (s DirStorage) path(name string) (string, error) {
	clean := filepath.ToSlash(filepath.Clean(name))
	if name == "" || clean != name || strings.HasPrefix(clean, "../") || clean == ".." || filepath.IsAbs(name) {
		return "", fmt.Errorf("store target: bad name %q", name)
	}
	return filepath.Join(s.Dir, filepath.FromSlash(name)), nil
}

func linkOrCopy(src, dst string) error {
	tmp := dst + ".link"
	os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
