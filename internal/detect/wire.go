package detect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"time"
	"unicode/utf8"
)

// The window batch: how a gateway node ships its partial datapoints of one
// base window to the detector workers (queue WindowsQueue).
//
// Raw observations (one per message) of millions of devices cannot cross a
// bus; one partial datapoint per active device per window can. A batch is
// binary, little-endian where fixed width, with unsigned varints
// (encoding/binary) for lengths and counts:
//
//	magic "WDB" | version byte (1)
//	node (string) | window end (varint, Unix ns) | window (uvarint, ns)
//	seq (uvarint) | batches (uvarint) | names (uvarint n, n strings)
//	datapoints (uvarint n), each:
//	  device (string)
//	  values (uvarint n), each: uvarint(name index << 1 | float flag),
//	    then uvarint(v) for a whole number, or 8 bytes of float64 bits
//	  sets (uvarint n), each: name index (uvarint), members (uvarint n, n strings)
//
// A string is a uvarint length and UTF-8 bytes. The name table holds every
// metric and set name the batch uses, once, so a newer gateway's extra
// metrics reach an older detector by name, and a zero value is simply
// absent. A batch is at most MaxBatchBytes; a node ships batches
// seq = 0..batches-1 for each window, and at least one (empty) batch per
// window, so that the detect leader knows the node is alive and how many
// batches to wait for.
//
// DecodeBatch trusts nothing: every length is checked against what is
// left, values must be finite and non-negative, names and members are
// bounded and UTF-8, and anything else (bad magic, unknown version,
// trailing bytes) is an error wrapping ErrBadBatch.

// WindowsQueue is the bus work queue that carries window batches from the
// gateway nodes to the detector workers, consumed by the group
// DetectGroup.
const (
	WindowsQueue = "detect.windows"
	DetectGroup  = "detect"
)

// MaxBatchBytes bounds one encoded batch: half the bus's default 1 MiB
// payload, so a batch always fits with room to spare.
const MaxBatchBytes = 512 << 10

// batchVersion is the encoding's version byte.
const batchVersion = 1

var batchMagic = [3]byte{'W', 'D', 'B'}

// Limits of a decoded batch.
const (
	maxNameLen   = 256  // node, device, metric or set name
	maxMember    = 1024 // one set member (topic, address)
	maxNames     = 4096
	maxBatchSeqs = 1 << 20
)

// ErrBadBatch wraps every batch decoding error.
var ErrBadBatch = errors.New("invalid detection window batch")

// Batch is one gateway node's batch of partial datapoints of one base
// window: the Datapoints are the node's own view of each device (a device
// with sessions on two nodes has a partial on each).
type Batch struct {
	Node       string
	WindowEnd  time.Time
	Window     time.Duration
	Seq        int // 0-based
	Batches    int // how many batches Node ships for this window
	Datapoints []Datapoint
}

// EncodeBatches encodes dps into batches of at most maxBytes each
// (MaxBatchBytes when maxBytes <= 0), numbered 0..n-1 and all carrying n.
// No datapoint yields at least one (empty) batch. A single datapoint too
// large for maxBytes (impossible with the collector's set caps and
// MaxBatchBytes) has its sets dropped rather than the datapoint.
func EncodeBatches(node string, end time.Time, window time.Duration, dps []Datapoint, maxBytes int) [][]byte {
	if maxBytes <= 0 {
		maxBytes = MaxBatchBytes
	}
	// Encode each datapoint body against a shared name table first, then
	// cut: the table is small (tens of names) and goes in every batch.
	names := &nameTable{idx: map[string]int{}}
	bodies := make([][]byte, len(dps))
	for i := range dps {
		bodies[i] = encodeDatapoint(nil, &dps[i], names, true)
	}
	head := func(seq, n int) []byte {
		b := append([]byte{}, batchMagic[:]...)
		b = append(b, batchVersion)
		b = putString(b, node)
		b = binary.AppendVarint(b, end.UnixNano())
		b = binary.AppendUvarint(b, uint64(window))
		b = binary.AppendUvarint(b, uint64(seq))
		b = binary.AppendUvarint(b, uint64(n))
		b = binary.AppendUvarint(b, uint64(len(names.list)))
		for _, s := range names.list {
			b = putString(b, s)
		}
		return b
	}
	// Plan the cut with a worst-case header (seq and n as 5-byte varints)
	// and count field, then write the batches.
	fixed := len(head(maxBatchSeqs, maxBatchSeqs)) + binary.MaxVarintLen32
	var groups [][]int
	var cur []int
	size := fixed
	for i, b := range bodies {
		if fixed+len(b) > maxBytes {
			bodies[i] = encodeDatapoint(nil, &dps[i], names, false)
			b = bodies[i]
		}
		if len(cur) > 0 && size+len(b) > maxBytes {
			groups = append(groups, cur)
			cur, size = nil, fixed
		}
		cur = append(cur, i)
		size += len(b)
	}
	groups = append(groups, cur)
	out := make([][]byte, len(groups))
	for seq, g := range groups {
		b := head(seq, len(groups))
		b = binary.AppendUvarint(b, uint64(len(g)))
		for _, i := range g {
			b = append(b, bodies[i]...)
		}
		out[seq] = b
	}
	return out
}

type nameTable struct {
	idx  map[string]int
	list []string
}

func (t *nameTable) id(s string) int {
	if i, ok := t.idx[s]; ok {
		return i
	}
	t.idx[s] = len(t.list)
	t.list = append(t.list, s)
	return len(t.list) - 1
}

func putString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeDatapoint(b []byte, dp *Datapoint, names *nameTable, sets bool) []byte {
	b = putString(b, dp.Device)
	n := 0
	for _, v := range dp.Values {
		if v != 0 {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	// Map order does not matter on the wire; the decoder builds a map.
	for k, v := range dp.Values {
		if v == 0 {
			continue
		}
		id := uint64(names.id(k)) << 1
		if v >= 0 && v < 1<<53 && v == math.Trunc(v) {
			b = binary.AppendUvarint(b, id)
			b = binary.AppendUvarint(b, uint64(v))
		} else {
			b = binary.AppendUvarint(b, id|1)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	if !sets {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(dp.Sets)))
	for k, vs := range dp.Sets {
		b = binary.AppendUvarint(b, uint64(names.id(k)))
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = putString(b, v)
		}
	}
	return b
}

// decoder reads a batch; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrBadBatch}, args...)...)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("%s: truncated or overlong number", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("%s: truncated or overlong number", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items that take at least minSize bytes each, so a
// hostile count cannot make the decoder allocate more than the batch.
func (d *decoder) count(what string, minSize, limit int) int {
	v := d.uvarint(what)
	if d.err == nil && (v > uint64(limit) || v*uint64(minSize) > uint64(len(d.b))) {
		d.fail("%s: %d is more than the batch can hold", what, v)
		return 0
	}
	return int(v)
}

func (d *decoder) str(what string, limit int) string {
	n := d.uvarint(what)
	if d.err != nil {
		return ""
	}
	if n > uint64(limit) || n > uint64(len(d.b)) {
		d.fail("%s: length %d is over the limit or past the end", what, n)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	if !utf8.ValidString(s) {
		d.fail("%s: not UTF-8", what)
	}
	return s
}

// skipStr checks a string as str does without keeping it.
func (d *decoder) skipStr(what string, limit int) {
	n := d.uvarint(what)
	if d.err != nil {
		return
	}
	if n > uint64(limit) || n > uint64(len(d.b)) {
		d.fail("%s: length %d is over the limit or past the end", what, n)
		return
	}
	if !utf8.Valid(d.b[:n]) {
		d.fail("%s: not UTF-8", what)
	}
	d.b = d.b[n:]
}

// DecodeBatch decodes and checks one batch.
func DecodeBatch(data []byte) (Batch, error) { return decodeBatch(data, true) }

// checkBatch checks a batch as DecodeBatch does and returns its header,
// without building its datapoints (a detector worker stores the bytes).
func checkBatch(data []byte) (Batch, error) { return decodeBatch(data, false) }

func decodeBatch(data []byte, keep bool) (Batch, error) {
	var bt Batch
	if len(data) > 2*MaxBatchBytes {
		return bt, fmt.Errorf("%w: %d bytes is over the %d-byte limit", ErrBadBatch, len(data), 2*MaxBatchBytes)
	}
	if len(data) < 4 || [3]byte(data[:3]) != batchMagic {
		return bt, fmt.Errorf("%w: not a window batch (bad magic)", ErrBadBatch)
	}
	if data[3] != batchVersion {
		return bt, fmt.Errorf("%w: version %d, this detector reads version %d (upgrade it)", ErrBadBatch, data[3], batchVersion)
	}
	d := &decoder{b: data[4:]}
	bt.Node = d.str("node", maxNameLen)
	end := d.varint("window end")
	win := d.uvarint("window")
	seq := d.uvarint("seq")
	n := d.uvarint("batches")
	names := make([]string, d.count("names", 1, maxNames))
	for i := range names {
		names[i] = d.str("name", maxNameLen)
	}
	if d.err != nil {
		return Batch{}, d.err
	}
	switch {
	case bt.Node == "":
		d.fail("empty node name")
	case win == 0 || win > uint64(24*time.Hour):
		d.fail("window %d ns is not between 1 ns and 24 h", win)
	case n == 0 || n > maxBatchSeqs || seq >= n:
		d.fail("batch %d of %d", seq, n)
	}
	bt.WindowEnd, bt.Window, bt.Seq, bt.Batches = time.Unix(0, end), time.Duration(win), int(seq), int(n)
	// A datapoint takes at least 3 bytes: a device name of 1 byte and two
	// zero counts.
	n = uint64(d.count("datapoints", 4, MaxBatchBytes))
	if keep {
		bt.Datapoints = make([]Datapoint, n)
	}
	seen := make(map[string]bool, n)
	var scratch Datapoint
	for i := range int(n) {
		dp := &scratch
		if keep {
			dp = &bt.Datapoints[i]
		}
		dp.Device = d.str("device", maxNameLen)
		if d.err == nil && (dp.Device == "" || seen[dp.Device]) {
			d.fail("datapoint %d: empty or repeated device %q", i, dp.Device)
		}
		seen[dp.Device] = true
		if keep {
			dp.Start, dp.End, dp.Window = bt.WindowEnd.Add(-bt.Window), bt.WindowEnd, bt.Window
			dp.Values = maps.Clone(zeroValues) // every metric, at 0: a copy of the table, not 26 inserts
		}
		nv := d.count("values", 2, len(names))
		for range nv {
			key := d.uvarint("value name")
			if d.err != nil {
				break
			}
			if key>>1 >= uint64(len(names)) {
				d.fail("datapoint %q: value name %d is not in the table", dp.Device, key>>1)
				break
			}
			var v float64
			if key&1 == 0 {
				u := d.uvarint("value")
				if u >= 1<<53 {
					d.fail("datapoint %q: value %d is too large", dp.Device, u)
				}
				v = float64(u)
			} else if len(d.b) < 8 {
				d.fail("datapoint %q: truncated value", dp.Device)
			} else {
				v = math.Float64frombits(binary.LittleEndian.Uint64(d.b))
				d.b = d.b[8:]
				if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
					d.fail("datapoint %q: value %v is not a finite non-negative number", dp.Device, v)
				}
			}
			if keep {
				dp.Values[names[key>>1]] = v
			}
		}
		ns := d.count("sets", 2, len(names))
		for range ns {
			key := d.uvarint("set name")
			if d.err == nil && key >= uint64(len(names)) {
				d.fail("datapoint %q: set name %d is not in the table", dp.Device, key)
			}
			if d.err != nil {
				break
			}
			name := names[key]
			nm := d.count("set members", 1, setCap(name))
			if !keep {
				for range nm {
					d.skipStr("set member", maxMember)
				}
				continue
			}
			members := make([]string, nm)
			for j := range members {
				members[j] = d.str("set member", maxMember)
			}
			if d.err != nil {
				break
			}
			if dp.Sets == nil {
				dp.Sets = map[string][]string{}
			}
			dp.Sets[name] = unionCapped(dp.Sets[name], members, setCap(name))
		}
		if d.err != nil {
			break
		}
		if !keep {
			continue
		}
		// The set counts are the sets' sizes, whatever was sent.
		dp.Values[SourceIPCount] = float64(len(dp.Sets[SourceIPs]))
		dp.Values[TopicCount] = float64(len(dp.Sets[Topics]))
		dp.Values[DestinationIPCount] = float64(len(dp.Sets[DestinationIPs]))
		dp.Values[ListeningTCPCount] = float64(len(dp.Sets[ListeningTCPPorts]))
		dp.Values[ListeningUDPCount] = float64(len(dp.Sets[ListeningUDPPorts]))
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return Batch{}, d.err
	}
	return bt, nil
}
