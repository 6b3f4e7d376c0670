// Package procstat reads a process's CPU time and resident memory from
// /proc, so that a benchmark can report how much CPU (or memory) the server
// under test spent beside the load client on the same machine. Linux only;
// it leaves sampling and rates to the caller.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports (getconf CLK_TCK);
// reading it with sysconf would need cgo.
const clockTick = 10 * time.Millisecond

// CPUTime returns the user plus system CPU time that process pid has used.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after its closing
	// parenthesis are space-separated: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// Machine returns the CPU time the whole machine has spent busy since boot
// (all CPUs, everything but idle and I/O wait) and the number of CPUs, from
// /proc/stat. Benchmarks subtract the server's and their own share to show
// what other processes took during a run.
func Machine() (busy time.Duration, cpus int, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	var ticks int64
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case string(f[0]) == "cpu":
			if len(f) < 9 {
				return 0, 0, fmt.Errorf("parse /proc/stat: %d fields", len(f))
			}
			// user nice system idle iowait irq softirq steal
			for i, s := range f[1:9] {
				if i == 3 || i == 4 {
					continue
				}
				n, err := strconv.ParseInt(string(s), 10, 64)
				if err != nil {
					return 0, 0, fmt.Errorf("parse /proc/stat: %w", err)
				}
				ticks += n
			}
		case bytes.HasPrefix(f[0], []byte("cpu")):
			cpus++
		}
	}
	return time.Duration(ticks) * clockTick, cpus, nil
}

// Usage is one sample of the CPU counters a benchmark reports.
type Usage struct {
	At      time.Time
	Server  time.Duration // the server under test (0 without a PID)
	Self    time.Duration // this process, the load client
	Machine time.Duration // every process on the machine
}

// Take samples the server process pid (0: none), this process and the
// machine. Unreadable counters read as zero.
func Take(pid int) Usage {
	u := Usage{At: time.Now()}
	if pid > 0 {
		u.Server, _ = CPUTime(pid)
	}
	u.Self, _ = CPUTime(os.Getpid())
	u.Machine, _, _ = Machine()
	return u
}

// Shares returns the CPU used between u and a later sample v by the
// server, by this process and by every other process, each in percent of
// one CPU (200 is both cores of a 2-core machine).
func (u Usage) Shares(v Usage) (server, self, other float64) {
	secs := v.At.Sub(u.At).Seconds()
	pct := func(d time.Duration) float64 { return d.Seconds() / secs * 100 }
	server, self = pct(v.Server-u.Server), pct(v.Self-u.Self)
	other = max(0, pct(v.Machine-u.Machine)-server-self)
	return server, self, other
}

// RSS returns the resident set size of process pid in bytes, from the VmRSS
// line of /proc/<pid>/status (kernel socket buffers are not part of it).
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("parse /proc/%d/status: VmRSS %q", pid, bytes.TrimSpace(rest))
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/%d/status: %w", pid, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS line", pid)
}
