// Command replay measures the network sensor's memory on a long link: it
// plays a capture several times one after the other (eval.Sequence: each
// pass's timestamps shifted to follow the previous one), so that a
// 15-minute capture spans an hour or more of capture time, runs the
// shipped configuration over it and prints the summary and the process's
// maximum resident set size.
//
//	go run ./bench/netids/replay -passes 4 -learn 35434 CAPTURE
//
// Every pass repeats the same hosts, so the tables hold the capture's
// keys, swept and reused, not an hour of new ones; the tables' caps
// (docs/detection.md) bound the rest.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/wardproject/ward/internal/netids"
	"github.com/wardproject/ward/internal/netids/assemble"
	"github.com/wardproject/ward/internal/netids/eval"
)

func main() {
	passes := flag.Int("passes", 4, "times the capture is played")
	learn := flag.Int("learn", 10000, "learning packets")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: replay [-passes N] [-learn N] CAPTURE")
		os.Exit(2)
	}
	if err := run(context.Background(), flag.Arg(0), *passes, *learn); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, path string, passes, learn int) error {
	var parts []netids.Source
	names := make([]string, passes)
	for i := range passes {
		r, err := netids.OpenFile(path, netids.FileOptions{})
		if err != nil {
			return err
		}
		defer r.Close()
		parts = append(parts, r)
		names[i] = fmt.Sprintf("%s pass %d", path, i+1)
	}
	s, err := assemble.New(assemble.Config{Learn: learn, Seed: 1, Stdout: io.Discard})
	if err != nil {
		return err
	}
	defer s.Close()
	var first, last time.Time
	sum, err := netids.Run(ctx, eval.NewSequence(names, parts...), s.Sensor, func(f *netids.Frame, _ netids.Result) error {
		if first.IsZero() {
			first = f.Info.Timestamp
		}
		last = f.Info.Timestamp
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.Finish(); err != nil {
		return err
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return fmt.Errorf("getrusage: %w", err)
	}
	fmt.Printf("%d passes, %d packets over %s of capture time: %d scored, incidents %v, %d tracked keys and %d connections at the end, %.0f packets/s, max RSS %d MB\n",
		passes, sum.Packets, last.Sub(first).Round(time.Second), sum.Scored, sum.Incidents, sum.TrackedKeys, sum.Connections, sum.PacketsPerS, ru.Maxrss/1024)
	return nil
}
