package memlimit

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

const meminfo = "MemTotal:       24683748 kB\nMemFree:         1000 kB\n"

func files(m map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if s, ok := m[p]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
}

func TestApply(t *testing.T) {
	total := int64(24683748) << 10
	for _, tc := range []struct {
		name  string
		env   string
		files map[string]string
		avail int64
		src   string
	}{
		{name: "machine", files: map[string]string{"/proc/meminfo": meminfo, "/proc/self/cgroup": "0::/\n"}, avail: total, src: "/proc/meminfo MemTotal"},
		{name: "no cgroup file", files: map[string]string{"/proc/meminfo": meminfo}, avail: total, src: "/proc/meminfo MemTotal"},
		{name: "v2 own limit", files: map[string]string{
			"/proc/meminfo": meminfo, "/proc/self/cgroup": "0::/ward.slice/serve\n",
			"/sys/fs/cgroup/ward.slice/serve/memory.max": "4294967296\n",
			"/sys/fs/cgroup/ward.slice/memory.max":       "max\n",
		}, avail: 4 << 30, src: "/sys/fs/cgroup/ward.slice/serve/memory.max"},
		{name: "v2 parent's lower limit wins", files: map[string]string{
			"/proc/meminfo": meminfo, "/proc/self/cgroup": "0::/a/b\n",
			"/sys/fs/cgroup/a/b/memory.max": "max", "/sys/fs/cgroup/a/memory.max": "2147483648",
		}, avail: 2 << 30, src: "/sys/fs/cgroup/a/memory.max"},
		{name: "v1 unlimited (this machine)", files: map[string]string{
			"/proc/meminfo": meminfo, "/proc/self/cgroup": "4:memory:/process_api/fa0e\n0::/\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
		}, avail: total, src: "/proc/meminfo MemTotal"},
		{name: "v1 container limit at the root", files: map[string]string{
			"/proc/meminfo": meminfo, "/proc/self/cgroup": "11:cpuacct,memory:/docker/abc\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n",
		}, avail: 1 << 30, src: "/sys/fs/cgroup/memory/memory.limit_in_bytes"},
		{name: "limit above the machine's size", files: map[string]string{
			"/proc/meminfo": meminfo, "/proc/self/cgroup": "0::/x\n", "/sys/fs/cgroup/x/memory.max": "99999999999999",
		}, avail: total, src: "/proc/meminfo MemTotal"},
		{name: "garbage limit ignored", files: map[string]string{
			"/proc/meminfo": meminfo, "/proc/self/cgroup": "0::/x\n", "/sys/fs/cgroup/x/memory.max": "lots",
		}, avail: total, src: "/proc/meminfo MemTotal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var set int64 = -1
			d, err := Apply(Options{Getenv: func(string) string { return tc.env }, ReadFile: files(tc.files), SetLimit: func(n int64) int64 { set = n; return 0 }})
			if err != nil {
				t.Fatal(err)
			}
			want := int64(float64(tc.avail) * Fraction)
			if d.Available != tc.avail || d.Source != tc.src || d.Limit != want || set != want {
				t.Fatalf("got %+v (set %d); want available %d from %s, limit %d", d, set, tc.avail, tc.src, want)
			}
		})
	}
}

func TestApplyLeavesGOMEMLIMIT(t *testing.T) {
	for _, v := range []string{"off", "2GiB"} {
		called := false
		d, err := Apply(Options{
			Getenv:   func(k string) string { return map[string]string{"GOMEMLIMIT": v}[k] },
			ReadFile: files(map[string]string{"/proc/meminfo": meminfo}),
			SetLimit: func(int64) int64 { called = true; return 0 },
		})
		if err != nil || called || d.Limit != 0 || d.Source != "GOMEMLIMIT="+v {
			t.Fatalf("GOMEMLIMIT=%s: %+v, %v, set called %v; want it left alone", v, d, err, called)
		}
	}
}

func TestApplyWithoutMeminfo(t *testing.T) {
	called := false
	_, err := Apply(Options{Getenv: func(string) string { return "" }, ReadFile: files(nil), SetLimit: func(int64) int64 { called = true; return 0 }})
	if !errors.Is(err, fs.ErrNotExist) || called {
		t.Fatalf("no /proc/meminfo: err %v, set called %v; want the read error and no limit", err, called)
	}
	_, err = Apply(Options{Getenv: func(string) string { return "" }, ReadFile: files(map[string]string{"/proc/meminfo": "MemTotal: 12 MB\n"}), SetLimit: func(int64) int64 { called = true; return 0 }})
	if err == nil || called || !strings.Contains(err.Error(), "MemTotal") {
		t.Fatalf("bad MemTotal: err %v, set called %v", err, called)
	}
}

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]struct {
		n       int64
		limited bool
		bad     bool
	}{
		"max\n": {}, "9223372036854771712": {}, "1073741824\n": {n: 1 << 30, limited: true},
		"": {bad: true}, "-1": {bad: true}, "0": {bad: true}, "12k": {bad: true}, "99999999999999999999": {bad: true},
	} {
		n, limited, err := ParseLimit([]byte(in))
		if n != want.n || limited != want.limited || (err != nil) != want.bad {
			t.Errorf("ParseLimit(%q) = %d, %v, %v; want %+v", in, n, limited, err, want)
		}
	}
}

func TestParseCgroup(t *testing.T) {
	c := ParseCgroup([]byte("12:memory:/m\n0::/u\ngarbage\n3:cpu:\n"))
	if c.V2 != "/u" || c.Memory != "/m" {
		t.Fatalf("got %+v", c)
	}
}

func FuzzParseMemTotal(f *testing.F) {
	f.Add([]byte(meminfo))
	f.Add([]byte("MemTotal: 1 kB"))
	f.Add([]byte("MemTotal:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseMemTotal(b)
		if err == nil && n <= 0 {
			t.Fatalf("ParseMemTotal(%q) = %d without error", b, n)
		}
	})
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"max", "1073741824\n", "9223372036854771712", "-5", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, limited, err := ParseLimit(b)
		if err == nil && limited && n <= 0 {
			t.Fatalf("ParseLimit(%q) = %d limited", b, n)
		}
	})
}

func FuzzParseCgroup(f *testing.F) {
	f.Add([]byte("4:memory:/process_api/x\n0::/\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := ParseCgroup(b)
		for _, p := range cgroupLimitFiles(c) {
			if !strings.HasPrefix(p, "/sys/fs/cgroup/") {
				t.Fatalf("cgroup %q gives a limit file outside /sys/fs/cgroup: %s", b, p)
			}
		}
	})
}
