package rules

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// maxBlocklistBytes bounds a blocklist file.
const maxBlocklistBytes = 64 << 20

// Blocklist is a set of known-bad addresses and networks, read from a file
// and reloadable while the sensor runs. Match is safe for concurrent use
// with Reload.
type Blocklist struct {
	path string
	set  atomic.Pointer[blockSet]
	mod  time.Time
	size int64
	log  *slog.Logger
}

type blockSet struct {
	addrs    map[netip.Addr]struct{}
	prefixes []netip.Prefix
}

// ParseBlocklist reads a blocklist: either a plain list, one IP address or
// CIDR network per line, or a CSV file whose rows have an address or
// network in some column (the first that parses; a header row is skipped).
// Blank lines and lines starting with # or ; are ignored. A row with no
// address is an error naming its line, so a typo is not silently dropped.
func ParseBlocklist(r io.Reader) (addrs []netip.Addr, prefixes []netip.Prefix, err error) {
	data, err := io.ReadAll(io.LimitReader(r, maxBlocklistBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read blocklist: %w", err)
	}
	if len(data) > maxBlocklistBytes {
		return nil, nil, fmt.Errorf("blocklist larger than %d bytes", maxBlocklistBytes)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' || text[0] == ';' {
			continue
		}
		fields := []string{text}
		if strings.ContainsAny(text, ",\t") {
			cr := csv.NewReader(strings.NewReader(text))
			cr.Comma = ','
			if strings.Contains(text, "\t") && !strings.Contains(text, ",") {
				cr.Comma = '\t'
			}
			cr.LazyQuotes = true
			if f, err := cr.Read(); err == nil {
				fields = f
			}
		} else if i := strings.IndexAny(text, " #"); i > 0 {
			fields = []string{text[:i]} // "1.2.3.4  # comment"
		}
		found := false
		for _, f := range fields {
			f = strings.Trim(strings.TrimSpace(f), `"`)
			if a, err := netip.ParseAddr(f); err == nil {
				addrs = append(addrs, a.Unmap())
				found = true
				break
			}
			if p, err := netip.ParsePrefix(f); err == nil {
				prefixes = append(prefixes, p.Masked())
				found = true
				break
			}
		}
		if !found {
			if line == 1 && len(fields) > 1 {
				continue // CSV header
			}
			return nil, nil, fmt.Errorf("blocklist line %d: no IP address or CIDR network in %q", line, truncate(text, 80))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("blocklist line %d: %w", line+1, err)
	}
	return addrs, prefixes, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// LoadBlocklist reads the blocklist at path. logger may be nil.
func LoadBlocklist(path string, logger *slog.Logger) (*Blocklist, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Blocklist{path: path, log: logger.With("component", "netids.blocklist")}
	if err := b.Reload(); err != nil {
		return nil, err
	}
	return b, nil
}

// NewBlocklist returns a fixed blocklist (no file).
func NewBlocklist(addrs []netip.Addr, prefixes []netip.Prefix) *Blocklist {
	b := &Blocklist{log: slog.New(slog.DiscardHandler)}
	b.set.Store(newBlockSet(addrs, prefixes))
	return b
}

func newBlockSet(addrs []netip.Addr, prefixes []netip.Prefix) *blockSet {
	s := &blockSet{addrs: make(map[netip.Addr]struct{}, len(addrs)), prefixes: prefixes}
	for _, a := range addrs {
		s.addrs[a.Unmap()] = struct{}{}
	}
	return s
}

// Reload re-reads the file. On error the previous list stays in force.
func (b *Blocklist) Reload() error {
	if b.path == "" {
		return errors.New("blocklist has no file to reload")
	}
	f, err := os.Open(b.path)
	if err != nil {
		return fmt.Errorf("open blocklist: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open blocklist: %w", err)
	}
	addrs, prefixes, err := ParseBlocklist(f)
	if err != nil {
		return fmt.Errorf("%s: %w", b.path, err)
	}
	b.set.Store(newBlockSet(addrs, prefixes))
	b.mod, b.size = st.ModTime(), st.Size()
	b.log.Info("blocklist loaded", "path", b.path, "addresses", len(addrs), "networks", len(prefixes))
	return nil
}

// Len returns the number of addresses and networks listed.
func (b *Blocklist) Len() int {
	s := b.set.Load()
	return len(s.addrs) + len(s.prefixes)
}

// Match reports whether a is listed, and the matching entry.
func (b *Blocklist) Match(a netip.Addr) (string, bool) {
	if !a.IsValid() {
		return "", false
	}
	a = a.Unmap()
	s := b.set.Load()
	if _, ok := s.addrs[a]; ok {
		return a.String(), true
	}
	for _, p := range s.prefixes {
		if p.Contains(a) {
			return p.String(), true
		}
	}
	return "", false
}

// Watch reloads the blocklist when hup delivers (SIGHUP) or when the file's
// size or modification time changes (checked every interval, default 5 s),
// until ctx is done. Reload errors are logged and the old list kept.
func (b *Blocklist) Watch(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := b.Reload(); err != nil {
				b.log.Error("blocklist reload failed; keeping the previous list", "err", err)
			}
		case <-tick.C:
			st, err := os.Stat(b.path)
			if err != nil || (st.ModTime().Equal(b.mod) && st.Size() == b.size) {
				continue
			}
			if err := b.Reload(); err != nil {
				b.log.Error("blocklist reload failed; keeping the previous list", "err", err)
			}
		}
	}
}
