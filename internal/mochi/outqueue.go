// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 Ward project

package mqtt

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardproject/ward/internal/mochi/packets"
)

// Why a delivery was dropped (the OnPublishDropped hook) or a publish
// refused (OnPublishRefused). A client's QoS 1/2 publish that a
// subscriber's session cannot hold (ErrDeliveryOfflineFull,
// ErrDeliveryPacketIDs) is refused, not acknowledged; only a QoS 1/2
// message nobody was promised delivery of (a will, a retained message sent
// on subscribe) is dropped for it. A slow live subscriber is disconnected
// and keeps the message in its session if it can hold it offline.
var (
	// ErrDeliveryQueueFull: a QoS 0 message found the subscriber's outbound
	// queue full and it did not drain within Options.DeliveryWaitQoS0.
	ErrDeliveryQueueFull = errors.New("subscriber's outbound queue stayed full")
	// ErrDeliveryInflightFull: a retained message sent on subscribe found
	// the subscriber's session holding Capabilities.MaximumInflight QoS
	// 1/2 messages.
	ErrDeliveryInflightFull = errors.New("subscriber's session holds the maximum of in-flight messages")
	// ErrDeliveryDisconnected: a QoS 0 message was queued but the
	// subscriber's connection ended before it was written.
	ErrDeliveryDisconnected = errors.New("subscriber disconnected before the message was written")
	// ErrDeliveryOfflineFull: the subscriber is disconnected and its
	// session already holds Capabilities.MaximumOfflineBytes of QoS 1/2
	// messages (MaximumInflight messages when that is 0).
	ErrDeliveryOfflineFull = errors.New("subscriber's offline session queue is full")
	// ErrDeliveryPacketIDs: the subscriber's session has no free packet ID.
	ErrDeliveryPacketIDs = errors.New("subscriber's session has no free packet identifier")
	// ErrDeliveryTakenOver: a new connection was taking the subscriber's
	// session over and was not registered yet.
	ErrDeliveryTakenOver = errors.New("subscriber's session was being taken over")
)

// maxWriteBatch bounds the bytes the writer copies into one write: larger
// batches are written in several calls (a TLS record holds 16 KiB).
const maxWriteBatch = 64 << 10

// writeBufs holds the writer's batch buffers between bursts, so an idle
// client holds none.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, maxWriteBatch); return &b }}

// outQueue is a client's outbound queue of encoded packets, capped by
// bytes (Capabilities.MaximumClientPendingBytes). It allocates nothing
// while empty, and its writer goroutine exists only while it holds
// something: the enqueuer starts it, and it exits once it has written
// everything. The writer coalesces: it writes all that is queued (up to
// maxWriteBatch bytes) with one call, so a burst to a subscriber becomes
// few, large TLS records and few syscalls.
//
// Lock order: Client.RWMutex, then outQueue.mu; mu is never held while
// writing to the connection or calling hooks.
type outQueue struct {
	mu      sync.Mutex
	pending []outItem     // guarded by mu
	bytes   int           // bytes queued or being written; guarded by mu
	writing bool          // a writer goroutine runs; guarded by mu
	room    chan struct{} // closed when bytes are written or in-flight messages acknowledged; nil when nobody waits
	// written counts the batches written; stalledAt is its value when a QoS 0
	// wait last timed out: while no batch has been written since, further
	// QoS 0 messages are dropped without waiting, so a stalled subscriber
	// costs each publisher one wait, not one per message. Guarded by mu.
	written, stalledAt uint64
}

// outItem is one encoded packet in the queue.
type outItem struct {
	pk *packets.Packet
	b  []byte
}

// pendingBytes returns the bytes queued or being written.
func (cl *Client) pendingBytes() int {
	cl.State.out.mu.Lock()
	defer cl.State.out.mu.Unlock()
	return cl.State.out.bytes
}

// roomLocked returns the channel closed at the next progress. out.mu must be held.
func (q *outQueue) roomLocked() chan struct{} {
	if q.room == nil {
		q.room = make(chan struct{})
	}
	return q.room
}

// signalRoom wakes publishers waiting for room in the queue or the
// in-flight window; called after a write and after an acknowledgement.
func (cl *Client) signalRoom() {
	q := &cl.State.out
	q.mu.Lock()
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
	q.mu.Unlock()
}

// waitFloor is the least a waiting delivery is given, whatever is left of
// its publish's deadline, as a fraction of the wait: a healthy subscriber
// that is momentarily full is not dropped because a stalled one earlier in
// the same fan-out used the publish's time. A stalled subscriber costs it
// once (QoS 0: stalledSkip; QoS 1/2: it is disconnected).
const waitFloor = 10

// waitProgress waits until ch is closed, the deadline (at least floor from
// now) passes or the client closes. It reports whether ch was closed.
func (cl *Client) waitProgress(ch chan struct{}, deadline time.Time, floor time.Duration, timer **time.Timer) bool {
	d := max(time.Until(deadline), floor)
	if d <= 0 {
		return false
	}
	if *timer == nil {
		*timer = time.NewTimer(d)
	} else {
		(*timer).Reset(d)
	}
	select {
	case <-ch:
		return true
	case <-(*timer).C:
		return false
	case <-cl.State.open.Done():
		return false
	}
}

// enqueue queues an encoded packet for the writer. When the queue is over
// its byte cap it waits for room until deadline (the publisher's goroutine
// waits, so the publisher's socket is not read: TCP back-pressure); it
// returns ErrDeliveryQueueFull if there is still no room then and
// ErrConnectionClosed if the client closes. One packet is always accepted
// into an empty queue, whatever its size. stalledSkip makes the wait
// skipped while the queue has not progressed since a previous wait timed
// out (used for QoS 0).
func (cl *Client) enqueue(pk *packets.Packet, b []byte, deadline time.Time, floor time.Duration, stalledSkip bool) error {
	q := &cl.State.out
	limit := cl.ops.options.Capabilities.MaximumClientPendingBytes
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	q.mu.Lock()
	for q.bytes > 0 && q.bytes+len(b) > limit {
		if cl.Closed() {
			q.mu.Unlock()
			return ErrConnectionClosed
		}
		if stalledSkip && q.stalledAt == q.written && q.stalledAt != 0 {
			q.mu.Unlock()
			return ErrDeliveryQueueFull
		}
		ch := q.roomLocked()
		q.mu.Unlock()
		if !cl.waitProgress(ch, deadline, floor, &timer) {
			floor = 0 // the floor is given once
			q.mu.Lock()
			if q.bytes > 0 && q.bytes+len(b) > limit {
				if stalledSkip {
					q.stalledAt = q.written
					if q.stalledAt == 0 { // nothing ever written: mark as stalled all the same
						q.written, q.stalledAt = 1, 1
					}
				}
				q.mu.Unlock()
				if cl.Closed() {
					return ErrConnectionClosed
				}
				return ErrDeliveryQueueFull
			}
			continue // room appeared as the wait ended
		}
		q.mu.Lock()
	}
	if cl.Closed() {
		q.mu.Unlock()
		return ErrConnectionClosed
	}
	q.pending = append(q.pending, outItem{pk: pk, b: b})
	q.bytes += len(b)
	start := !q.writing
	q.writing = true
	q.mu.Unlock()
	if start {
		go cl.writeQueued()
	}
	return nil
}

// writeQueued is the writer goroutine: it writes what is queued in
// batches and exits when the queue is empty (or the connection fails,
// after reporting the QoS 0 messages it could not write).
func (cl *Client) writeQueued() {
	q := &cl.State.out
	var bufp *[]byte
	defer func() {
		if bufp != nil {
			*bufp = (*bufp)[:0]
			writeBufs.Put(bufp)
		}
	}()
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.pending = nil // release the array while idle
			q.writing = false
			q.mu.Unlock()
			return
		}
		n, size := 0, 0
		for n < len(q.pending) && (n == 0 || size+len(q.pending[n].b) <= maxWriteBatch) {
			size += len(q.pending[n].b)
			n++
		}
		batch := q.pending[:n:n]
		q.pending = q.pending[n:]
		q.mu.Unlock()

		var err error
		if cl.Closed() {
			err = ErrConnectionClosed
		} else {
			b := batch[0].b
			if n > 1 {
				if bufp == nil {
					bufp = writeBufs.Get().(*[]byte)
				}
				buf := (*bufp)[:0]
				for _, it := range batch {
					buf = append(buf, it.b...)
				}
				*bufp = buf
				b = buf
			}
			cl.writeMu.Lock()
			_, err = cl.writeLocked(b)
			cl.writeMu.Unlock()
		}

		q.mu.Lock()
		q.bytes -= size
		q.written++
		if q.room != nil {
			close(q.room)
			q.room = nil
		}
		q.mu.Unlock()

		if err != nil {
			cl.ops.log.Debug("failed writing queued packets", "error", err, "client", cl.ID)
			cl.Stop(err)
			cl.discardQueued(batch)
			continue // discard the rest the same way, then exit
		}
		for i := range batch {
			cl.packetSent(*batch[i].pk, batch[i].b, len(batch[i].b))
			batch[i] = outItem{}
		}
	}
}

// discardQueued reports the QoS 0 publishes of items as dropped: they were
// queued but the connection ended first. QoS 1/2 publishes stay in the
// session's in-flight messages and are resent when it resumes.
func (cl *Client) discardQueued(items []outItem) {
	for i := range items {
		if pk := items[i].pk; pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Qos == 0 {
			atomic.AddInt64(&cl.ops.info.MessagesDropped, 1)
			cl.ops.hooks.OnPublishDropped(cl, *pk, ErrDeliveryDisconnected)
		}
		items[i] = outItem{}
	}
}

// waitInflight waits until the client's session holds fewer than max
// in-flight messages, the deadline passes or the client closes; it reports
// whether there is room.
func (cl *Client) waitInflight(max int, deadline time.Time, floor time.Duration) bool {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if cl.State.Inflight.Len() < max {
			return true
		}
		if cl.Closed() {
			return false
		}
		q := &cl.State.out
		q.mu.Lock()
		ch := q.roomLocked()
		q.mu.Unlock()
		if cl.State.Inflight.Len() < max {
			return true
		}
		if !cl.waitProgress(ch, deadline, floor, &timer) {
			return cl.State.Inflight.Len() < max
		}
	}
}

// delivery is what one publish shares across its subscribers: the
// back-pressure deadlines (one publish waits about Options.DeliveryWait in
// all, however many subscribers are slow, plus a tenth of it for each
// subscriber that it finds full after that) and the encodings already made.
type delivery struct {
	deadline     time.Time // QoS 1/2 deliveries
	deadlineQoS0 time.Time // QoS 0 deliveries
	floor        time.Duration
	floorQoS0    time.Duration
	// waitInflight: wait for room in a subscriber's in-flight window (not
	// on the subscriber's own goroutine, which reads its acknowledgements).
	waitInflight bool
	shareable    bool // no hook rewrites packets at encoding (OnPacketEncode)
	// refusable: a client's QoS 1/2 publish, not yet acknowledged; a
	// session that cannot hold it makes it refused (refusedBy, the first
	// such session, and refusedWhy) instead of dropping it.
	refusable  bool
	refusedBy  *Client
	refusedWhy error
	// reserved: the offline sessions promised room for this publish, with
	// the bytes promised (offlineHolds); given back by release.
	reserved map[*Client]int
	shared   [4]sharedEncoding
	nshared  int
}

// sharedEncoding is a publish encoded once for every subscriber with the
// same protocol version, QoS, retain flag and problem-info setting (and no
// subscription identifier or topic alias of its own); at QoS 1/2 each
// subscriber gets a copy with its packet ID (idAt) set. The message expiry
// interval (MQTT 5) is the one computed for the first subscriber of the
// publish.
type sharedEncoding struct {
	version      byte
	retain       bool
	noProblemInf bool
	qos          byte
	idAt         int
	pk           *packets.Packet
	b            []byte
}

// newDelivery starts a delivery now.
func (s *Server) newDelivery(waitInflight bool) *delivery {
	now := time.Now()
	return &delivery{
		deadline:     now.Add(s.Options.DeliveryWait),
		deadlineQoS0: now.Add(s.Options.DeliveryWaitQoS0),
		floor:        s.Options.DeliveryWait / waitFloor,
		floorQoS0:    s.Options.DeliveryWaitQoS0 / waitFloor,
		waitInflight: waitInflight,
		shareable:    !s.hooks.Provides(OnPacketEncode),
	}
}

// release gives back the room promised to offline sessions for this
// publish: what they took is now counted in their in-flight bytes.
func (d *delivery) release() {
	for cl, n := range d.reserved {
		cl.State.Inflight.unreserve(n)
	}
	d.reserved = nil
}

// encode returns out encoded for cl, shared with earlier subscribers of the
// same publish when nothing in it is particular to cl.
func (d *delivery) encode(cl *Client, out packets.Packet) (*packets.Packet, []byte, error) {
	share := d.shareable && out.Mods.MaxSize == 0 &&
		len(out.Properties.SubscriptionIdentifier) == 0 && !out.Properties.TopicAliasFlag
	noProblem := cl.Properties.Props.RequestProblemInfoFlag && cl.Properties.Props.RequestProblemInfo == 0x0
	qos := out.FixedHeader.Qos
	if share {
		for i := 0; i < d.nshared; i++ {
			e := &d.shared[i]
			if e.version != cl.Properties.ProtocolVersion || e.retain != out.FixedHeader.Retain || e.noProblemInf != noProblem || e.qos != qos {
				continue
			}
			if max := cl.Properties.Props.MaximumPacketSize; max > 0 && uint32(len(e.b)) > max {
				return nil, nil, packets.ErrPacketTooLarge // [MQTT-3.1.2-24] [MQTT-3.1.2-25]
			}
			if qos == 0 {
				return e.pk, e.b, nil
			}
			// QoS 1/2: the same bytes but for this session's packet ID.
			b := append([]byte(nil), e.b...)
			b[e.idAt], b[e.idAt+1] = byte(out.PacketID>>8), byte(out.PacketID)
			pk := *e.pk
			pk.PacketID = out.PacketID
			return &pk, b, nil
		}
	}
	pk, b, err := cl.encodePacket(out)
	if err != nil {
		return nil, nil, err
	}
	if share && d.nshared < len(d.shared) && cl.Properties.Props.MaximumPacketSize == 0 {
		d.shared[d.nshared] = sharedEncoding{version: cl.Properties.ProtocolVersion, retain: out.FixedHeader.Retain,
			noProblemInf: noProblem, qos: qos, idAt: publishIDAt(b, len(out.TopicName)), pk: &pk, b: b}
		d.nshared++
	}
	return &pk, b, nil
}

// publishIDAt returns the offset of the packet identifier in an encoded
// PUBLISH of a topic of topicLen bytes: after the fixed header (type byte
// and remaining length) and the topic.
func publishIDAt(b []byte, topicLen int) int {
	i := 1
	for i < len(b) && b[i]&0x80 != 0 {
		i++
	}
	return i + 1 + 2 + topicLen
}
