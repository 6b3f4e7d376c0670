package detect

import (
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/wardproject/ward/internal/gwevent"
)

// Collector aggregates the gateway's observations into per-device window
// accumulators. Observe is called on connection goroutines: it takes one
// uncontended shard lock and never blocks on I/O. Swap closes the current
// window and returns one Datapoint per device that was active or connected.
type Collector struct {
	shards [64]shard
	seed   maphash.Seed
	events atomic.Int64 // observations seen, for benchmarks and metrics
}

type shard struct {
	mu      sync.Mutex // guards devices
	devices map[string]*devAcc
}

// devAcc is one device's state: the open window's counters plus what
// persists across windows (live sessions, last payload format).
type devAcc struct {
	cur          acc
	live         int
	offlineSince time.Time
	lastFormat   byte
	seenAt       time.Time
}

type acc struct {
	n          [numCounters]float64
	sourceIPs  map[string]struct{}
	topics     map[string]struct{}
	dstIPs     map[string]struct{}
	tcp, udp   map[string]struct{}
	haveReport bool
}

// counter indexes into acc.n.
const (
	cMsgsSent = iota
	cBytesSent
	cMsgsRecv
	cBytesRecv
	cSizeMax
	cAuthz
	cSubDenied
	cConnAttempts
	cConnRefused
	cDisconnects
	cDisconnectedSec
	cCollisions
	cFormatChanges
	cLimitHits
	cDevBytesIn
	cDevBytesOut
	cDevPktsIn
	cDevPktsOut
	cEstablished
	cReports
	cBadReports
	numCounters
)

var counterNames = [numCounters]string{
	MessagesSent, BytesSent, MessagesReceived, BytesReceived, MessageSizeMax, AuthzFailures, SubscribeDenied,
	ConnectionAttempts, ConnectionsRefused, Disconnects, DisconnectedSeconds, ClientIDCollisions, FormatChanges, LimitHits,
	DeviceBytesIn, DeviceBytesOut, DevicePacketsIn, DevicePacketsOut, EstablishedConns, DeviceReports, InvalidDeviceReports,
}

// NewCollector returns an empty Collector.
func NewCollector() *Collector {
	c := &Collector{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].devices = map[string]*devAcc{}
	}
	return c
}

func (c *Collector) shard(id string) *shard {
	return &c.shards[maphash.String(c.seed, id)%uint64(len(c.shards))]
}

// Payload formats tracked for payload_format_changes.
const (
	fmtNone byte = iota
	fmtJSON
	fmtText
	fmtBinary
)

// classify guesses a payload's format from its first bytes: JSON (object
// or array), other UTF-8 text, or binary.
func classify(p []byte) byte {
	if len(p) == 0 {
		return fmtNone
	}
	head := p
	if len(head) > 256 {
		head = head[:256]
	}
	t := strings.TrimLeft(string(head), " \t\r\n")
	if t != "" && (t[0] == '{' || t[0] == '[') {
		return fmtJSON
	}
	// A cut in the middle of a rune at 256 bytes is still text.
	for len(head) > 0 && !utf8.Valid(head) && len(p) > 256 && len(head) > 252 {
		head = head[:len(head)-1]
	}
	if utf8.Valid(head) {
		for _, b := range head {
			if b < 0x09 || (b > 0x0d && b < 0x20) {
				return fmtBinary
			}
		}
		return fmtText
	}
	return fmtBinary
}

func add(set *map[string]struct{}, v string, limit int) {
	if *set == nil {
		*set = map[string]struct{}{}
	}
	if len(*set) < limit {
		(*set)[v] = struct{}{}
	}
}

// Observe implements gateway.Observer.
func (c *Collector) Observe(o gwevent.Event) {
	if o.Device == "" {
		return
	}
	c.events.Add(1)
	var rep *DeviceReport
	bad := false
	if o.Kind == gwevent.Published && isMetricsTopic(o.Topic, o.Device) {
		r, err := ParseDeviceReport(o.Payload)
		if err != nil {
			bad = true
		} else {
			rep = &r
		}
	}
	format := fmtNone
	if o.Kind == gwevent.Published && rep == nil && !bad {
		format = classify(o.Payload)
	}
	s := c.shard(o.Device)
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[o.Device]
	if d == nil {
		d = &devAcc{}
		s.devices[o.Device] = d
	}
	d.seenAt = o.Time
	a := &d.cur
	switch o.Kind {
	case gwevent.Connected:
		a.n[cConnAttempts]++
		if d.live == 0 && !d.offlineSince.IsZero() {
			a.n[cDisconnectedSec] += o.Time.Sub(d.offlineSince).Seconds()
			d.offlineSince = time.Time{}
		}
		d.live++
		if o.RemoteAddr != "" {
			add(&a.sourceIPs, o.RemoteIP(), setCap(SourceIPs))
		}
	case gwevent.Refused:
		a.n[cConnAttempts]++
		a.n[cConnRefused]++
		if o.RemoteAddr != "" {
			add(&a.sourceIPs, o.RemoteIP(), setCap(SourceIPs))
		}
	case gwevent.Disconnected:
		a.n[cDisconnects]++
		if d.live > 0 {
			d.live--
		}
		if d.live == 0 {
			d.offlineSince = o.Time
		}
	case gwevent.Published:
		a.n[cMsgsSent]++
		a.n[cBytesSent] += float64(o.Bytes)
		if float64(o.Bytes) > a.n[cSizeMax] {
			a.n[cSizeMax] = float64(o.Bytes)
		}
		add(&a.topics, o.Topic, setCap(Topics))
		switch {
		case bad:
			a.n[cBadReports]++
		case rep != nil:
			a.mergeReport(rep)
		case format != fmtNone:
			if d.lastFormat != fmtNone && d.lastFormat != format {
				a.n[cFormatChanges]++
			}
			d.lastFormat = format
		}
	case gwevent.Delivered:
		a.n[cMsgsRecv]++
		a.n[cBytesRecv] += float64(o.Bytes)
	case gwevent.ACLDenied:
		a.n[cAuthz]++
		if o.Action == "subscribe" {
			a.n[cSubDenied]++
		}
	case gwevent.Limit:
		a.n[cLimitHits]++
	case gwevent.ClientIDCollision:
		a.n[cCollisions]++
	}
}

func (a *acc) mergeReport(r *DeviceReport) {
	a.n[cReports]++
	for idx, v := range map[int]*int64{cDevBytesIn: r.BytesIn, cDevBytesOut: r.BytesOut, cDevPktsIn: r.PacketsIn, cDevPktsOut: r.PacketsOut} {
		if v != nil {
			a.n[idx] += float64(*v)
		}
	}
	if r.EstablishedConnections != nil && float64(*r.EstablishedConnections) > a.n[cEstablished] {
		a.n[cEstablished] = float64(*r.EstablishedConnections)
	}
	for _, ip := range r.DestinationIPs {
		add(&a.dstIPs, ip, setCap(DestinationIPs))
	}
	for _, p := range r.ListeningTCPPorts {
		add(&a.tcp, strconv.Itoa(p), setCap(ListeningTCPPorts))
	}
	for _, p := range r.ListeningUDPPorts {
		add(&a.udp, strconv.Itoa(p), setCap(ListeningUDPPorts))
	}
	a.haveReport = true
}

// isMetricsTopic reports whether topic is devices/<id>/metrics.
func isMetricsTopic(topic, id string) bool {
	return len(topic) == len("devices/")+len(id)+len("/metrics") &&
		strings.HasPrefix(topic, "devices/") && topic[len("devices/"):len("devices/")+len(id)] == id && strings.HasSuffix(topic, "/metrics")
}

func keys(m map[string]struct{}) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return unionCapped(out, nil, len(out))
}

// Swap closes the window [start, end) and returns a datapoint for every
// device that was active in it or is still connected. Devices idle and
// offline for longer than idle are forgotten.
func (c *Collector) Swap(start, end time.Time, idle time.Duration) []Datapoint {
	var out []Datapoint
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for id, d := range s.devices {
			a := d.cur
			d.cur = acc{}
			if d.live == 0 && !d.offlineSince.IsZero() {
				from := d.offlineSince
				if from.Before(start) {
					from = start
				}
				if end.After(from) {
					a.n[cDisconnectedSec] += end.Sub(from).Seconds()
				}
				d.offlineSince = end
			}
			active := d.live > 0 || !d.seenAt.Before(start)
			if !active {
				if d.live == 0 && end.Sub(d.seenAt) > idle {
					delete(s.devices, id)
				}
				continue
			}
			dp := Datapoint{Device: id, Start: start, End: end, Window: end.Sub(start), Values: make(map[string]float64, numCounters+3)}
			for k, v := range a.n {
				dp.Values[counterNames[k]] = v
			}
			sets := map[string][]string{}
			for name, m := range map[string]map[string]struct{}{SourceIPs: a.sourceIPs, Topics: a.topics, DestinationIPs: a.dstIPs,
				ListeningTCPPorts: a.tcp, ListeningUDPPorts: a.udp} {
				if k := keys(m); k != nil {
					sets[name] = k
				}
			}
			if len(sets) > 0 {
				dp.Sets = sets
			}
			dp.Values[SourceIPCount] = float64(len(a.sourceIPs))
			dp.Values[TopicCount] = float64(len(a.topics))
			dp.Values[DestinationIPCount] = float64(len(a.dstIPs))
			dp.Values[ListeningTCPCount] = float64(len(a.tcp))
			dp.Values[ListeningUDPCount] = float64(len(a.udp))
			out = append(out, dp)
		}
		s.mu.Unlock()
	}
	return out
}

// Observations returns how many observations were collected so far.
func (c *Collector) Observations() int64 { return c.events.Load() }
