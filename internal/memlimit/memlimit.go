// Package memlimit gives `ward serve` a Go soft memory limit derived from
// the machine it runs on: Fraction of the memory the process may use, the
// lowest of its cgroup limits (v2 memory.max up the hierarchy, or v1
// memory.limit_in_bytes) and the machine's MemTotal. With a limit the
// collector works harder as the heap nears it instead of letting the
// process be killed for running out of memory, while below it the heap
// grows by GOGC as usual.
//
// An operator's GOMEMLIMIT (any value, "off" included) wins and is left
// alone; the runtime has already applied it. The package reads only
// /proc and /sys files; it does not change GOGC.
package memlimit

import (
	"errors"
	"fmt"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
)

// Fraction of the available memory that becomes the soft limit: the rest
// is left to what the Go runtime does not count (thread stacks of cgo,
// the binary's text) and to the kernel's page cache for the SQLite file.
const Fraction = 0.9

// Decision says what Apply did, for the start-up log.
type Decision struct {
	Limit     int64  // bytes set as the soft memory limit; 0 when none was set
	Available int64  // memory available to the process, bytes; 0 if unknown
	Source    string // where Available (or the operator's limit) came from
}

// Options are Apply's sources; zero values read the real environment and
// files and set the real runtime limit.
type Options struct {
	Getenv   func(string) string          // nil: os.Getenv
	ReadFile func(string) ([]byte, error) // nil: os.ReadFile
	SetLimit func(int64) int64            // nil: debug.SetMemoryLimit
}

// Apply sets the runtime's soft memory limit to Fraction of the available
// memory unless GOMEMLIMIT is set. When nothing can be read it sets no
// limit and returns an error saying why; the caller logs it and goes on.
func Apply(opts Options) (Decision, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	if opts.SetLimit == nil {
		opts.SetLimit = debug.SetMemoryLimit
	}
	if v := opts.Getenv("GOMEMLIMIT"); v != "" {
		return Decision{Source: "GOMEMLIMIT=" + v}, nil
	}
	avail, src, err := Available(opts.ReadFile)
	if err != nil {
		return Decision{}, err
	}
	limit := int64(float64(avail) * Fraction)
	opts.SetLimit(limit)
	return Decision{Limit: limit, Available: avail, Source: src}, nil
}

// Available returns the memory this process may use and where that came
// from: the lowest cgroup limit on its path, else MemTotal.
func Available(read func(string) ([]byte, error)) (int64, string, error) {
	mi, err := read("/proc/meminfo")
	if err != nil {
		return 0, "", fmt.Errorf("read the machine's memory size: %w", err)
	}
	total, err := ParseMemTotal(mi)
	if err != nil {
		return 0, "", fmt.Errorf("read the machine's memory size from /proc/meminfo: %w", err)
	}
	avail, src := total, "/proc/meminfo MemTotal"
	cg, err := read("/proc/self/cgroup")
	if err != nil {
		return avail, src, nil // no cgroups (not Linux, or hidden): the machine's size
	}
	for _, f := range cgroupLimitFiles(ParseCgroup(cg)) {
		b, err := read(f)
		if err != nil {
			continue
		}
		n, limited, err := ParseLimit(b)
		if err != nil || !limited {
			continue
		}
		if n < avail {
			avail, src = n, f
		}
	}
	return avail, src, nil
}

// Cgroup is where this process sits in the cgroup hierarchies, from
// /proc/self/cgroup.
type Cgroup struct {
	V2     string // path in the unified hierarchy ("0::/path"); "" if none
	Memory string // path in the v1 memory controller ("N:memory:/path"); "" if none
}

// ParseCgroup reads /proc/self/cgroup. Lines it does not understand are
// skipped.
func ParseCgroup(b []byte) Cgroup {
	var c Cgroup
	for line := range strings.Lines(string(b)) {
		parts := strings.SplitN(strings.TrimRight(line, "\r\n"), ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			c.V2 = parts[2]
		case strings.Contains(","+parts[1]+",", ",memory,"):
			c.Memory = parts[2]
		}
	}
	return c
}

// cgroupLimitFiles lists the limit files that may apply to c: every
// ancestor's memory.max in v2 (a parent's limit bounds its children), the
// v1 controller's at its path and at the mount's root (where a container
// sees its own cgroup).
func cgroupLimitFiles(c Cgroup) []string {
	var out []string
	if c.V2 != "" {
		for p := path.Clean(c.V2); ; p = path.Dir(p) {
			out = append(out, path.Join("/sys/fs/cgroup", p, "memory.max"))
			if p == "/" {
				break
			}
		}
	}
	if c.Memory != "" {
		out = append(out, path.Join("/sys/fs/cgroup/memory", path.Clean(c.Memory), "memory.limit_in_bytes"))
		if path.Clean(c.Memory) != "/" {
			out = append(out, "/sys/fs/cgroup/memory/memory.limit_in_bytes")
		}
	}
	return out
}

// unlimitedV1 is at or above what cgroup v1 reports for "no limit" (the
// largest page-aligned int64).
const unlimitedV1 = 1 << 62

// ParseLimit reads a cgroup memory limit file: "max" (v2) or a number of
// bytes; limited is false for no limit.
func ParseLimit(b []byte) (n int64, limited bool, err error) {
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, false, nil
	}
	n, err = strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false, fmt.Errorf("cgroup memory limit %q is not a positive number of bytes or max", s)
	}
	if n >= unlimitedV1 {
		return 0, false, nil
	}
	return n, true, nil
}

// ParseMemTotal reads MemTotal (in kB, that is KiB) from /proc/meminfo.
func ParseMemTotal(b []byte) (int64, error) {
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("MemTotal line %q is not \"<number> kB\"", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb <= 0 || kb > (1<<53) {
			return 0, fmt.Errorf("MemTotal %q is not a positive number of kB", f[0])
		}
		return kb << 10, nil
	}
	return 0, errors.New("no MemTotal line")
}
