package eval

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/netids"
)

type frames struct {
	fs  []netids.Frame
	err error
}

func (s *frames) Next() (netids.Frame, error) {
	if len(s.fs) == 0 {
		if s.err != nil {
			return netids.Frame{}, s.err
		}
		return netids.Frame{}, io.EOF
	}
	f := s.fs[0]
	s.fs = s.fs[1:]
	return f, nil
}

func at(sec ...int) *frames {
	s := &frames{}
	for i, v := range sec {
		f := netids.Frame{Number: uint64(i + 1)}
		f.Info.Timestamp = time.Unix(int64(v), 0)
		s.fs = append(s.fs, f)
	}
	return s
}

func TestSequence(t *testing.T) {
	bad := errors.New("corrupt record")
	tests := []struct {
		name    string
		parts   []netids.Source
		want    []int64 // timestamps (s)
		wantErr string
	}{
		{"a later part starts a second after", []netids.Source{at(100, 101, 105), at(10, 12)}, []int64{100, 101, 105, 106, 108}, ""},
		{"an earlier part too", []netids.Source{at(100), at(500, 501)}, []int64{100, 101, 102}, ""},
		{"an empty part", []netids.Source{at(), at(7, 8), at(), at(1)}, []int64{7, 8, 9}, ""},
		{"an error names its part", []netids.Source{at(1), &frames{fs: at(5).fs, err: bad}}, []int64{1, 2}, "part 2 (attack.pcap) of the sequence: corrupt record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := NewSequence([]string{"benign.pcap", "attack.pcap"}, tt.parts...)
			var got []int64
			var err error
			for {
				var f netids.Frame
				f, err = q.Next()
				if err != nil {
					break
				}
				if f.Number != uint64(len(got)+1) {
					t.Errorf("frame %d numbered %d", len(got)+1, f.Number)
				}
				got = append(got, f.Info.Timestamp.Unix())
			}
			if tt.wantErr == "" && !errors.Is(err, io.EOF) || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, bad)) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("timestamps %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("timestamps %v, want %v", got, tt.want)
				}
			}
		})
	}
	// Two real captures, pcap then pcapng, through a sensor.
	var parts []netids.Source
	for _, n := range []string{"small.pcap", "small.pcapng"} {
		r, err := netids.OpenFile(filepath.Join("..", "testdata", n), netids.FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		parts = append(parts, r)
	}
	s, err := netids.New(netids.Options{Learn: 60})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := netids.Run(t.Context(), NewSequence(nil, parts...), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Packets != 80 || sum.Scored == 0 {
		t.Errorf("summary %+v: want both captures' packets, some scored", sum)
	}
}
