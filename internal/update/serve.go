package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// TargetOpener opens stored target bytes for serving. name is a
// consistent-snapshot name relative to targets/ (<model>/<version>/<hash>.<file>),
// already checked by the handler. An absent object is fs.ErrNotExist.
// DirStorage implements it; an object store can later.
type TargetOpener interface {
	OpenTarget(ctx context.Context, name string) (io.ReadSeekCloser, fs.FileInfo, error)
}

// HandlerOptions configure the read-only HTTP handler of a repository.
// Dir is required.
type HandlerOptions struct {
	// Dir is the repository directory (<data-dir>/tuf). It may not exist
	// yet: every request is then 404, and once ward update init creates
	// it the handler serves it without a restart.
	Dir string
	// Prefix is the URL path the repository is served under (default
	// "/tuf/"); it must start and end with "/".
	Prefix string
	// Targets opens target bytes (nil: DirStorage at Dir/targets).
	Targets TargetOpener
	Logger  *slog.Logger // nil: discard
}

// Handler serves a repository's layout read-only: the metadata files and
// the targets, and nothing else (see NewHandler).
type Handler struct {
	opts HandlerOptions
	log  *slog.Logger
}

// NewHandler returns the handler that serves the layout of the package
// doc under opts.Prefix, for GET and HEAD only:
//
//   - metadata: root.json, timestamp.json and <V>.<role>.json, looked up
//     by the escaped path as it arrived (r.URL.EscapedPath()), so that
//     3.models%2Facme-th1.json is one file name;
//   - targets: targets/<model>/<version>/<hash>.<file>, whose hash is the
//     64 or 128 hex digits of its sha256 or sha512.
//
// Every other name, a dot file (.ward-update.lock), a directory (no
// listings), an escaped "/" or ".." in a target path, or a symlink that
// leaves the directory is 404, without touching the file system for a
// name that cannot be in the layout. Files are served with
// http.ServeContent: HTTP Range and If-Range (resumed downloads), HEAD,
// Last-Modified and a strong ETag (the hash of the content, taken from a
// target's name or computed for metadata). Authorisation is the caller's
// job: wrap the handler.
func NewHandler(opts HandlerOptions) (*Handler, error) {
	if opts.Dir == "" {
		return nil, errors.New("update: HandlerOptions.Dir is required")
	}
	if opts.Prefix == "" {
		opts.Prefix = "/tuf/"
	}
	if !strings.HasPrefix(opts.Prefix, "/") || !strings.HasSuffix(opts.Prefix, "/") {
		return nil, fmt.Errorf("update: HandlerOptions.Prefix %q must start and end with /", opts.Prefix)
	}
	if opts.Targets == nil {
		opts.Targets = DirStorage{Dir: opts.Dir + string(os.PathSeparator) + targetsDir}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{opts: opts, log: opts.Logger.With("component", "update")}, nil
}

// Content types of the layout.
const (
	metadataContentType = "application/json"
	targetContentType   = "application/octet-stream"
)

// hashNameRe is the base name of a stored target: sha256 or sha512 hex,
// then the file name.
var hashNameRe = regexp.MustCompile(`^([0-9a-f]{64}|[0-9a-f]{128})\.([A-Za-z0-9][A-Za-z0-9._+-]{0,127})$`)

// Request is what a request path names in the layout.
type Request struct {
	Metadata string // a metadata file name in the repository directory, or ""
	Target   string // a target's stored name under targets/, or ""
	Hash     string // a target's hash (hex), from its name
}

// ParseRequestPath maps the escaped path of a request, without the
// handler's prefix, to a file of the layout, or fails for a name that
// cannot be one. It never returns a name with "..", a dot file, an
// absolute path or a directory.
func ParseRequestPath(escaped string) (Request, error) {
	if escaped == "" {
		return Request{}, errors.New("empty path")
	}
	if rest, ok := strings.CutPrefix(escaped, targetsDir+"/"); ok {
		segs := strings.Split(rest, "/")
		if len(segs) != 3 {
			return Request{}, fmt.Errorf("target path %q: want %s/<model>/<version>/<hash>.<file>", escaped, targetsDir)
		}
		for i, s := range segs {
			u, err := url.PathUnescape(s)
			if err != nil {
				return Request{}, fmt.Errorf("target path %q: %w", escaped, err)
			}
			segs[i] = u
		}
		m := hashNameRe.FindStringSubmatch(segs[2])
		if m == nil {
			return Request{}, fmt.Errorf("target path %q: the file name must be <sha256 or sha512 hex>.<file>", escaped)
		}
		if _, err := TargetPath(segs[0], segs[1], m[2]); err != nil {
			return Request{}, fmt.Errorf("target path %q: %w", escaped, err)
		}
		return Request{Target: segs[0] + "/" + segs[1] + "/" + segs[2], Hash: m[1]}, nil
	}
	if escaped == rootFile || escaped == timestampFile {
		return Request{Metadata: escaped}, nil
	}
	role, v, err := parseVersionedName(escaped)
	if err != nil {
		return Request{}, err
	}
	// Only the name Ward writes: one spelling per file, and never a
	// versioned timestamp or an unversioned targets or snapshot.
	if v == 0 || role == "timestamp" || versionedName(role, v) != escaped {
		return Request{}, fmt.Errorf("%q is not a file of the layout", escaped)
	}
	return Request{Metadata: escaped}, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the TUF repository is read-only", http.StatusMethodNotAllowed)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), h.opts.Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	req, err := ParseRequestPath(rest)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if req.Target != "" {
		h.serveTarget(w, r, req)
		return
	}
	h.serveMetadata(w, r, req.Metadata)
}

func (h *Handler) serveTarget(w http.ResponseWriter, r *http.Request, req Request) {
	f, fi, err := h.opts.Targets.OpenTarget(r.Context(), req.Target)
	if err != nil {
		h.notFound(w, r, err)
		return
	}
	defer f.Close()
	hd := w.Header()
	hd.Set("Content-Type", targetContentType)
	hd.Set("ETag", `"`+req.Hash+`"`)
	hd.Set("Cache-Control", "private, max-age=31536000, immutable") // content-addressed
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

func (h *Handler) serveMetadata(w http.ResponseWriter, r *http.Request, name string) {
	f, fi, err := openRegular(h.opts.Dir, name)
	if err != nil {
		h.notFound(w, r, err)
		return
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		h.log.Error("read TUF metadata", "file", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", metadataContentType)
	hd.Set("ETag", `"`+hex.EncodeToString(sum.Sum(nil))+`"`)
	if name == rootFile || name == timestampFile {
		hd.Set("Cache-Control", "no-cache") // replaced in place: revalidate
	} else {
		hd.Set("Cache-Control", "private, max-age=31536000, immutable") // versioned
	}
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, fs.ErrNotExist) {
		h.log.Warn("TUF repository file refused", "path", r.URL.EscapedPath(), "err", err)
	}
	http.NotFound(w, r)
}

// errNotRegular: a directory, device, socket... is never served.
var errNotRegular = fmt.Errorf("not a regular file: %w", fs.ErrNotExist)

// openRegular opens name under dir through os.Root, so that neither ".."
// nor a symlink leaves dir, and only a regular file is returned.
func openRegular(dir, name string) (*os.File, fs.FileInfo, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return nil, nil, err // an escaping symlink too: 404 to the client, logged
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errNotRegular
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// OpenTarget implements TargetOpener: name is opened under Dir without
// leaving it (os.Root), and only a regular file is returned.
func (s DirStorage) OpenTarget(ctx context.Context, name string) (io.ReadSeekCloser, fs.FileInfo, error) {
	if _, err := s.path(name); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return openRegular(s.Dir, name)
}
