package detect

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var wireEnd = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

func wireDatapoint(dev string, w time.Duration, msgs float64) Datapoint {
	dp := Datapoint{Device: dev, Start: wireEnd.Add(-w), End: wireEnd, Window: w, Values: map[string]float64{}}
	for _, m := range NumericMetrics {
		dp.Values[m] = 0
	}
	dp.Values[MessagesSent] = msgs
	dp.Values[BytesSent] = msgs * 120
	dp.Values[DisconnectedSeconds] = 12.75
	dp.Values[MessageSizeMax] = 4096
	dp.Sets = map[string][]string{SourceIPs: {"192.0.2.1", "192.0.2.2"}, Topics: {"devices/" + dev + "/t"}}
	dp.Values[SourceIPCount] = 2
	dp.Values[TopicCount] = 1
	return dp
}

func TestBatchRoundTrip(t *testing.T) {
	w := time.Minute
	var dps []Datapoint
	for i := range 5000 {
		dps = append(dps, wireDatapoint(fmt.Sprintf("dev-%05d", i), w, float64(i)))
	}
	bs := EncodeBatches("node-a", wireEnd, w, dps, 64<<10)
	if len(bs) < 2 {
		t.Fatalf("5000 datapoints in %d batches of at most 64 KiB; want several", len(bs))
	}
	var got []Datapoint
	for i, b := range bs {
		if len(b) > 64<<10 {
			t.Errorf("batch %d is %d bytes, over the 64 KiB asked", i, len(b))
		}
		bt, err := DecodeBatch(b)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if bt.Node != "node-a" || !bt.WindowEnd.Equal(wireEnd) || bt.Window != w || bt.Seq != i || bt.Batches != len(bs) {
			t.Errorf("batch %d header = %+v", i, bt)
		}
		got = append(got, bt.Datapoints...)
	}
	opt := cmpopts.EquateApproxTime(0)
	if diff := cmp.Diff(dps, got, opt); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// Compact: well under the JSON the store keeps per window.
	per := 0
	for _, b := range bs {
		per += len(b)
	}
	if per/len(dps) > 120 {
		t.Errorf("%d bytes per datapoint on the wire; want at most 120", per/len(dps))
	}
}

func TestBatchEmptyWindow(t *testing.T) {
	bs := EncodeBatches("node-a", wireEnd, time.Minute, nil, 0)
	if len(bs) != 1 {
		t.Fatalf("an idle window gives %d batches, want 1 (the node's heartbeat)", len(bs))
	}
	bt, err := DecodeBatch(bs[0])
	if err != nil || bt.Batches != 1 || len(bt.Datapoints) != 0 {
		t.Errorf("DecodeBatch = %+v, %v", bt, err)
	}
}

func TestDecodeBatchRefuses(t *testing.T) {
	good := EncodeBatches("n", wireEnd, time.Minute, []Datapoint{wireDatapoint("d", time.Minute, 3)}, 0)[0]
	nan := EncodeBatches("n", wireEnd, time.Minute, []Datapoint{{Device: "d", Values: map[string]float64{MessagesSent: math.NaN()}}}, 0)[0]
	neg := EncodeBatches("n", wireEnd, time.Minute, []Datapoint{{Device: "d", Values: map[string]float64{MessagesSent: -4}}}, 0)[0]
	dup := EncodeBatches("n", wireEnd, time.Minute, []Datapoint{{Device: "d", Values: map[string]float64{MessagesSent: 1}}, {Device: "d"}}, 0)[0]
	noNode := EncodeBatches("", wireEnd, time.Minute, nil, 0)[0]
	noWindow := EncodeBatches("n", wireEnd, 0, nil, 0)[0]
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "bad magic"},
		{"json", []byte(`{"node":"n"}`), "bad magic"},
		{"version", append([]byte("WDB\x02"), good[4:]...), "version 2"},
		{"truncated", good[:len(good)-3], ""},
		{"trailing", append(append([]byte{}, good...), 0), "trailing"},
		{"nan", nan, "not a finite non-negative"},
		{"negative", neg, "not a finite non-negative"},
		{"repeated-device", dup, "repeated device"},
		{"no-node", noNode, "empty node"},
		{"no-window", noWindow, "window 0"},
		{"huge-count", append([]byte("WDB\x01\x01n\x00\x01\x00\x01"), 0xff, 0xff, 0xff, 0xff, 0x0f), "more than the batch can hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBatch(tt.in)
			if !errors.Is(err, ErrBadBatch) {
				t.Fatalf("DecodeBatch = %v, want ErrBadBatch", err)
			}
			if tt.want != "" && !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// FuzzDecodeBatch: a hostile batch never panics, and whatever decodes
// encodes back to a batch that decodes to the same datapoints.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(EncodeBatches("node-a", wireEnd, time.Minute, []Datapoint{wireDatapoint("d-1", time.Minute, 7), wireDatapoint("d-2", time.Minute, 0)}, 0)[0])
	f.Add(EncodeBatches("node-b", wireEnd, time.Second, nil, 0)[0])
	f.Add([]byte("WDB\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		bt, err := DecodeBatch(data)
		if err != nil {
			if !errors.Is(err, ErrBadBatch) {
				t.Fatalf("error %v does not wrap ErrBadBatch", err)
			}
			return
		}
		again := EncodeBatches(bt.Node, bt.WindowEnd, bt.Window, bt.Datapoints, 2*MaxBatchBytes)
		if len(again) != 1 {
			t.Fatalf("a decoded batch re-encodes to %d batches", len(again))
		}
		bt2, err := DecodeBatch(again[0])
		if err != nil {
			t.Fatalf("re-encoded batch: %v", err)
		}
		if diff := cmp.Diff(bt.Datapoints, bt2.Datapoints, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// FuzzCheckBatch: the detector worker's check without building datapoints
// accepts exactly what DecodeBatch accepts, with the same header.
func FuzzCheckBatch(f *testing.F) {
	f.Add(EncodeBatches("node-a", wireEnd, time.Minute, []Datapoint{wireDatapoint("d-1", time.Minute, 7), wireDatapoint("d-2", time.Minute, 0)}, 0)[0])
	f.Add([]byte("WDB\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		full, ferr := DecodeBatch(data)
		head, cerr := checkBatch(data)
		if (ferr == nil) != (cerr == nil) {
			t.Fatalf("DecodeBatch error %v, checkBatch error %v", ferr, cerr)
		}
		if ferr == nil && (head.Node != full.Node || !head.WindowEnd.Equal(full.WindowEnd) || head.Seq != full.Seq || head.Batches != full.Batches) {
			t.Fatalf("headers differ: %+v and %+v", head, full)
		}
	})
}
