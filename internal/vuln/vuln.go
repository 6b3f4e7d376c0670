package vuln

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options configure a DB. The zero value gives the documented defaults.
type Options struct {
	// MaxRecordBytes bounds one OSV record, alone or inside a zip
	// (default DefaultMaxRecordBytes).
	MaxRecordBytes int64
	// MaxZipEntries bounds the number of entries in an OSV zip archive
	// (default 2,000,000; OSV's all.zip holds about 500,000 records).
	MaxZipEntries int
	// MaxZipBytes bounds the total uncompressed bytes read from one zip
	// archive, counted as they are inflated, not as the archive claims
	// (default 8 GiB).
	MaxZipBytes int64
	// MaxKEVBytes bounds the KEV catalogue (default DefaultMaxKEVBytes).
	MaxKEVBytes int64
	// Logger receives a warning for each rejected record. nil: discard.
	Logger *slog.Logger
	// Now stamps each import. nil: time.Now.
	Now func() time.Time
}

// DB holds imported OSV advisories and the KEV catalogue and matches SBOM
// components against them. It is safe for concurrent use.
type DB struct {
	opts Options
	log  *slog.Logger

	mu         sync.RWMutex // guards the fields below
	advisories map[string]*Advisory
	kev        map[string]KEVEntry
	feeds      map[string]*Feed
	idx        *index // nil when advisories changed since it was built
}

// Feed is one imported data source and when it was last imported.
type Feed struct {
	// Name is "osv/<ecosystem>" (e.g. "osv/Go", "osv/Alpaquita",
	// "osv/GIT" for repository-only records) or "kev".
	Name string `json:"name"`
	// ImportedAt is when the feed was last imported.
	ImportedAt time.Time `json:"imported_at"`
	// Records is how many records the last import brought in for this feed
	// (entries, for KEV).
	Records int `json:"records"`
	// Version is the KEV catalogVersion; empty for OSV.
	Version string `json:"version,omitempty"`
	// Released is the KEV dateReleased; zero for OSV.
	Released time.Time `json:"released,omitzero"`
}

// New returns an empty DB.
func New(opts Options) (*DB, error) {
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if opts.MaxZipEntries <= 0 {
		opts.MaxZipEntries = 2_000_000
	}
	if opts.MaxZipBytes <= 0 {
		opts.MaxZipBytes = 8 << 30
	}
	if opts.MaxKEVBytes <= 0 {
		opts.MaxKEVBytes = DefaultMaxKEVBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DB{
		opts:       opts,
		log:        log.With("component", "vuln"),
		advisories: make(map[string]*Advisory),
		kev:        make(map[string]KEVEntry),
		feeds:      make(map[string]*Feed),
	}, nil
}

// ImportReport says what one OSV import did.
type ImportReport struct {
	Source    string `json:"source"`
	Imported  int    `json:"imported"`  // records added or replaced
	Withdrawn int    `json:"withdrawn"` // of those, withdrawn records (kept, never matched)
	Unchanged int    `json:"unchanged"` // records already held with a newer or equal modified time
	// Rejected lists the records that could not be used, each a
	// *DocumentError naming the file and the bad fields. The rest of the
	// import goes on without them.
	Rejected []error `json:"-"`
}

// ImportOSVPath imports OSV records from a JSON file, a directory (every
// *.json below it) or a zip archive as OSV publishes per ecosystem. Bad
// records are listed in the report and the others imported; the error is
// for failures that stop the whole import (unreadable path, zip limits,
// cancellation).
func (db *DB) ImportOSVPath(ctx context.Context, path string) (*ImportReport, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("import OSV: %w", err)
	}
	rep := &ImportReport{Source: path}
	var recs []*Advisory
	switch {
	case st.IsDir():
		err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if d.IsDir() {
				if p != path && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(d.Name(), ".json") {
				return nil
			}
			rel, _ := filepath.Rel(path, p)
			if a := db.readRecordFile(p, rel, rep); a != nil {
				recs = append(recs, a)
			}
			return nil
		})
	case strings.HasSuffix(strings.ToLower(path), ".zip"):
		var f *os.File
		if f, err = os.Open(path); err == nil {
			defer f.Close()
			recs, err = db.readZip(ctx, filepath.Base(path), f, st.Size(), rep)
		}
	default:
		if a := db.readRecordFile(path, filepath.Base(path), rep); a != nil {
			recs = append(recs, a)
		}
	}
	if err != nil {
		return rep, fmt.Errorf("import OSV %s: %w", path, err)
	}
	db.add(recs, rep)
	return rep, nil
}

// ImportOSV imports one OSV JSON record or one zip archive of records from
// r (an upload, say); a zip is recognised by its magic number. source
// names the input in errors.
func (db *DB) ImportOSV(ctx context.Context, source string, r io.Reader) (*ImportReport, error) {
	rep := &ImportReport{Source: source}
	br := &peekReader{r: r}
	head, err := br.peek(4)
	if err != nil {
		return rep, fmt.Errorf("import OSV %s: %w", source, err)
	}
	var recs []*Advisory
	if bytes.Equal(head, []byte("PK\x03\x04")) {
		data, err := readLimited(br, db.opts.MaxZipBytes, "OSV zip "+source)
		if err != nil {
			return rep, fmt.Errorf("import OSV: %w", err)
		}
		if recs, err = db.readZip(ctx, source, bytes.NewReader(data), int64(len(data)), rep); err != nil {
			return rep, fmt.Errorf("import OSV %s: %w", source, err)
		}
	} else {
		data, err := readLimited(br, db.opts.MaxRecordBytes, "OSV record "+source)
		if err != nil {
			return rep, fmt.Errorf("import OSV: %w", err)
		}
		if a := db.parseRecord(source, data, rep); a != nil {
			recs = append(recs, a)
		}
	}
	db.add(recs, rep)
	return rep, nil
}

func (db *DB) readRecordFile(path, name string, rep *ImportReport) *Advisory {
	f, err := os.Open(path)
	if err != nil {
		db.reject(rep, fmt.Errorf("%s: %w", name, err))
		return nil
	}
	defer f.Close()
	data, err := readLimited(f, db.opts.MaxRecordBytes, "OSV record "+name)
	if err != nil {
		db.reject(rep, err)
		return nil
	}
	return db.parseRecord(name, data, rep)
}

func (db *DB) parseRecord(name string, data []byte, rep *ImportReport) *Advisory {
	a, err := ParseOSV(name, data)
	if err != nil {
		db.reject(rep, err)
		return nil
	}
	return a
}

func (db *DB) reject(rep *ImportReport, err error) {
	rep.Rejected = append(rep.Rejected, err)
	db.log.Warn("OSV record rejected", "source", rep.Source, "err", err)
}

// readZip reads the *.json entries of an OSV zip archive with bounds on
// the entry count, each entry's inflated size and the total inflated size.
func (db *DB) readZip(ctx context.Context, name string, r io.ReaderAt, size int64, rep *ImportReport) ([]*Advisory, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("open zip %s: %w", name, err)
	}
	if len(zr.File) > db.opts.MaxZipEntries {
		return nil, fmt.Errorf("zip %s has %d entries, over the limit of %d: %w", name, len(zr.File), db.opts.MaxZipEntries, ErrTooLarge)
	}
	var recs []*Advisory
	var total int64
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if f.FileInfo().IsDir() || !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		entry := name + ":" + f.Name
		if f.UncompressedSize64 > uint64(db.opts.MaxRecordBytes) {
			db.reject(rep, fmt.Errorf("%s: declared size %d is over the %d-byte record limit: %w", entry, f.UncompressedSize64, db.opts.MaxRecordBytes, ErrTooLarge))
			continue
		}
		rc, err := f.Open()
		if err != nil {
			db.reject(rep, fmt.Errorf("%s: %w", entry, err))
			continue
		}
		data, err := readLimited(rc, db.opts.MaxRecordBytes, "OSV record "+entry)
		rc.Close()
		total += int64(len(data))
		if total > db.opts.MaxZipBytes {
			return nil, fmt.Errorf("zip %s inflates to more than %d bytes: %w", name, db.opts.MaxZipBytes, ErrTooLarge)
		}
		if err != nil {
			db.reject(rep, err)
			continue
		}
		if a := db.parseRecord(entry, data, rep); a != nil {
			recs = append(recs, a)
		}
	}
	return recs, nil
}

// add stores records, keeping the newer of two with the same ID, and
// stamps the feeds they belong to.
func (db *DB) add(recs []*Advisory, rep *ImportReport) {
	now := db.opts.Now()
	db.mu.Lock()
	defer db.mu.Unlock()
	counts := map[string]int{}
	for _, a := range recs {
		if old, ok := db.advisories[a.ID]; ok && old.Modified.After(a.Modified) {
			rep.Unchanged++
			continue
		}
		db.advisories[a.ID] = a
		rep.Imported++
		if a.IsWithdrawn() {
			rep.Withdrawn++
		}
		for _, f := range feedsOf(a) {
			counts[f]++
		}
	}
	for name, n := range counts {
		db.feeds[name] = &Feed{Name: name, ImportedAt: now, Records: n}
	}
	if rep.Imported > 0 {
		db.idx = nil
	}
}

// feedsOf names the OSV feeds a record belongs to: one per base ecosystem
// of its affected packages, "osv/GIT" for repository-only entries, and
// "osv/<ID prefix>" for records with no affected entries (withdrawn ones).
func feedsOf(a *Advisory) []string {
	seen := map[string]bool{}
	var out []string
	for _, aff := range a.Affected {
		name := "osv/GIT"
		if aff.Package != nil {
			base, _, _ := strings.Cut(aff.Package.Ecosystem, ":")
			name = "osv/" + base
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		prefix, _, _ := strings.Cut(a.ID, "-")
		out = append(out, "osv/"+prefix)
	}
	return out
}

// ImportKEV replaces the KEV catalogue with the one read from r.
func (db *DB) ImportKEV(source string, r io.Reader) (*KEVCatalog, error) {
	cat, err := ParseKEV(source, r, db.opts.MaxKEVBytes)
	if err != nil {
		return nil, fmt.Errorf("import KEV: %w", err)
	}
	m := make(map[string]KEVEntry, len(cat.Vulnerabilities))
	for _, e := range cat.Vulnerabilities {
		m[e.CVEID] = e
	}
	now := db.opts.Now()
	db.mu.Lock()
	defer db.mu.Unlock()
	db.kev = m
	db.feeds["kev"] = &Feed{Name: "kev", ImportedAt: now, Records: len(m), Version: cat.CatalogVersion, Released: cat.DateReleased}
	return cat, nil
}

// Feeds lists every imported feed, sorted by name.
func (db *DB) Feeds() []Feed {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make([]Feed, 0, len(db.feeds))
	for _, f := range db.feeds {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Stale lists the feeds last imported more than maxAge before now, and a
// "kev" feed with zero ImportedAt when the KEV catalogue was never
// imported: without it no finding can be flagged as actively exploited.
func (db *DB) Stale(now time.Time, maxAge time.Duration) []Feed {
	var out []Feed
	hasKEV := false
	for _, f := range db.Feeds() {
		if f.Name == "kev" {
			hasKEV = true
		}
		if now.Sub(f.ImportedAt) > maxAge {
			out = append(out, f)
		}
	}
	if !hasKEV {
		out = append(out, Feed{Name: "kev"})
	}
	return out
}

// Advisory returns the record with the given ID.
func (db *DB) Advisory(id string) (*Advisory, bool) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	a, ok := db.advisories[id]
	return a, ok
}

// Len returns the number of records held, withdrawn ones included.
func (db *DB) Len() int {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return len(db.advisories)
}

// peekReader lets ImportOSV look at the first bytes of a stream.
type peekReader struct {
	r   io.Reader
	buf []byte
}

func (p *peekReader) peek(n int) ([]byte, error) {
	for len(p.buf) < n {
		b := make([]byte, n-len(p.buf))
		k, err := p.r.Read(b)
		p.buf = append(p.buf, b[:k]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(p.buf) == 0 {
		return nil, errors.New("empty input")
	}
	return p.buf, nil
}

// Read returns the peeked bytes first, then the rest of the stream.
func (p *peekReader) Read(b []byte) (int, error) {
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// RestoreFeeds sets the import metadata of feeds already held (after the
// server re-imported its stored documents at start-up, so that the times
// are those of the original imports, not of the restart).
func (db *DB) RestoreFeeds(fs []Feed) {
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, f := range fs {
		if cur, ok := db.feeds[f.Name]; ok {
			c := f
			if c.Records == 0 {
				c.Records = cur.Records
			}
			db.feeds[f.Name] = &c
		}
	}
}
