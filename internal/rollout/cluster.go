package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wardproject/ward/internal/bus"
	"github.com/wardproject/ward/internal/store"
)

// Rollouts on a cluster (Options.Bus set).
//
// Every node builds an engine, and any node's engine takes the operators'
// actions (Create, Pause, Resume, Abort, Next): they are conditional
// changes of the shared store, so two nodes acting at once cannot both
// win. One engine at a time, the "rollouts" leader's, runs Run: it checks
// the gates and handles the inputs of the whole cluster, which reach it
// on the work queue InputsQueue (at least once: every handler is
// idempotent, a report only moves a device forward).
//
// Every other engine only forwards: Observe (on a gateway node) and
// AlertChanged (on any node, whichever raised the alert) encode the input
// and put it on a bounded queue in memory, which Forward hands to the bus
// in order. When the bus refuses (NATS down), Forward offers the same
// input again every ForwardRetry, and the queue holds up to QueueSize
// inputs meanwhile. Past it, a device's QoS 1/2 status report is refused
// to the device instead of acknowledged (HoldPublish: MQTT 5 PUBACK 0x97,
// 3.1.1 the connection closed unacknowledged, so the device sends it
// again; ward_rollout_reports_refused_total): a report is never
// acknowledged and lost. Connections, subscriptions, alerts and QoS 0
// reports past the bound are dropped and counted
// (ward_rollout_dropped_total): a dropped subscription is recovered by
// the device's next connection, a dropped connection by the session
// directory (the bricked gate asks it too, for a device still
// connected), a QoS 0 report by its next report; a dropped alert is
// not recovered (the halt gate misses it), which only a full queue on
// the node that raised it can cause. When the node stops, Forward hands
// what it still holds to the bus within StopTimeout (ward serve: its
// shutdown_grace) and logs how many inputs it handed and how many were
// left; those are lost the same way.
//
// A node forwards device observations only while a rollout may be live
// (running, paused or halted): with none, which is most of the time, the
// connections of the whole fleet do not cross the bus. Forward re-reads
// that from the store every LiveCheck; a node that creates a rollout, or
// a gateway node that receives an order, knows at once (the order is
// published to the device after the flag is set, so a device that
// subscribes meanwhile either gets that publish or has its subscription
// forwarded). Alerts are always forwarded: they are few.
//
// The leader handles each input under Run's context, not the bus's
// acknowledgement deadline: a report that starts a wave orders all of its
// devices, which may take longer than AckWait; the input is then
// delivered again and changes nothing.
//
// Orders fan out on OrdersSubject: every gateway node publishes them to
// the device's order topic (DeliverOrders), so the order reaches the
// device on whichever node holds its session. Fan-out is at most once: a
// gateway node cut off from NATS misses what is published meanwhile. So
// a gateway node, each time its bus connection comes back, re-reads from
// the store the orders of running rollouts still pending (ordered, not
// answered) and publishes again those of the devices connected to it
// (Redeliver): they get the order without reconnecting. The device's
// side is idempotent: an order it is carrying out is answered
// "downloading", one it has installed "installed", with no second
// install (agent.Orders). A device that was not connected then gets its
// order when it next subscribes to its order topic, on any node.
// The bricked gate asks the session directory (Options.Sessions) whether
// a device is connected anywhere.

// Sessions says how many sessions devices have across the cluster.
// presence.Directory implements it.
type Sessions interface {
	ConnectedCounts(ctx context.Context, ids []string) (map[string]int, error)
}

// OrderPublisher publishes an order to a device connected to this node.
// *gateway.Gateway implements it.
type OrderPublisher interface {
	PublishOrder(deviceID string, payload []byte) error
}

// forward queues an input for the bus, or drops and counts it when the
// queue is full; it never blocks.
func (e *Engine) forward(in Input) {
	if !e.tryForward(in) {
		e.mDropped.Inc()
	}
}

// tryForward queues an input for the bus and reports whether the queue
// had room; it never blocks.
func (e *Engine) tryForward(in Input) bool {
	b, err := json.Marshal(in)
	if err != nil {
		return true // an Input always marshals
	}
	select {
	case e.fwd <- b:
		e.mForwarding.Inc()
		return true
	default:
		return false
	}
}

// Forward hands this node's inputs to the bus, in order, until ctx is
// done. It does nothing on a single node. Run it on every node of a
// cluster.
func (e *Engine) Forward(ctx context.Context) error {
	if e.opts.Bus == nil {
		return nil
	}
	e.checkLive(ctx)
	check := time.NewTicker(e.opts.LiveCheck)
	defer check.Stop()
	var b []byte // the input being offered, if any
	defer func() { e.drain(b) }()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-check.C:
			e.checkLive(ctx)
			continue
		case b = <-e.fwd:
		}
		for err := e.enqueue1(ctx, b); err != nil; err = e.enqueue1(ctx, b) {
			if ctx.Err() != nil {
				return nil
			}
			e.mForwardFail.Inc()
			if !failing {
				e.log.Error("the bus refuses rollout inputs; holding them and retrying", "queued", len(e.fwd)+1, "err", err)
				failing = true
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(e.opts.ForwardRetry):
			}
		}
		b = nil
		e.mForwarding.Dec()
		if failing {
			e.log.Info("the bus takes rollout inputs again", "queued", len(e.fwd))
			failing = false
		}
	}
}

// drain hands the inputs this node still holds when Forward stops (b,
// the one being offered, if any, then the queue, in order) to the bus
// within StopTimeout, and logs how many it handed and how many were left:
// those are lost (see above).
func (e *Engine) drain(b []byte) {
	if b == nil && len(e.fwd) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.StopTimeout)
	defer cancel()
	handed := 0
	for {
		if b == nil {
			select {
			case b = <-e.fwd:
			default:
			}
		}
		if b == nil {
			e.log.Info("stopping: handed the rollout inputs held here to the bus", "inputs", handed)
			return
		}
		if err := e.opts.Bus.Enqueue(ctx, InputsQueue, b); err != nil {
			left := len(e.fwd) + 1
			e.log.Error("stopping with rollout inputs the bus did not take: they are lost (devices' next reports and connections recover them)",
				"handed", handed, "left", left, "within", e.opts.StopTimeout, "err", err)
			return
		}
		b = nil
		handed++
		e.mForwarding.Dec()
	}
}

// checkLive re-reads whether a rollout is live; when the store cannot
// say, it assumes one is.
func (e *Engine) checkLive(ctx context.Context) {
	rs, err := e.opts.Store.ListRollouts(ctx, store.RolloutFilter{Statuses: liveStatuses, Limit: 1})
	if err != nil && ctx.Err() == nil {
		e.log.Warn("read whether a rollout is live; forwarding device observations meanwhile", "err", err)
	}
	e.live.Store(err != nil || len(rs) > 0)
}

// enqueue1 puts one input on the bus, waiting at most 5 s.
func (e *Engine) enqueue1(ctx context.Context, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return e.opts.Bus.Enqueue(ctx, InputsQueue, b)
}

// consume handles the cluster's inputs from the bus until ctx is done,
// starting again after a failure (the bus unreachable when the consumer
// is created).
func (e *Engine) consume(ctx context.Context) {
	for {
		// Handled under ctx, not the ack deadline the bus gives (see
		// above).
		err := e.opts.Bus.Consume(ctx, InputsQueue, InputsGroup, func(_ context.Context, m bus.Message) error {
			return e.handleInput(ctx, m)
		})
		if err == nil || errors.Is(err, bus.ErrClosed) || ctx.Err() != nil {
			return
		}
		e.log.Error("consume rollout inputs; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.opts.ForwardRetry):
		}
	}
}

// handleInput handles one input from the bus: nil acknowledges it (a bad
// message is dropped and counted, never retried), an error has it
// redelivered.
func (e *Engine) handleInput(ctx context.Context, m bus.Message) error {
	in, err := DecodeInput(m.Data)
	if err != nil {
		e.mReports.WithLabelValues("invalid").Inc()
		e.log.Warn("rollout input refused", "err", err)
		return nil
	}
	if in.Kind == InputAlert {
		err = e.handleAlert(ctx, *in.Alert)
	} else {
		err = e.handleObservation(ctx, in.event())
	}
	if err != nil {
		return fmt.Errorf("rollout %s input of %s: %w", in.Kind, in.Device, err)
	}
	if e.opts.Processed != nil {
		e.opts.Processed()
	}
	return nil
}

// publishOrder sends an order to the device: through the local gateway
// on a single node, to every gateway node on a cluster.
func (e *Engine) publishOrder(ctx context.Context, deviceID string, order []byte) error {
	if e.opts.Bus == nil {
		return e.opts.Gateway.PublishOrder(deviceID, order)
	}
	b, err := json.Marshal(OrderMessage{Device: deviceID, Order: order})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return e.opts.Bus.Publish(ctx, OrdersSubject, b)
}

// connectedNow reports whether the device has a session: on the local
// gateway, or on a cluster on any gateway node.
func (e *Engine) connectedNow(ctx context.Context, deviceID string) (bool, error) {
	if e.opts.Bus == nil {
		return e.opts.Gateway.Connected(deviceID) > 0, nil
	}
	n, err := e.opts.Sessions.ConnectedCounts(ctx, []string{deviceID})
	if err != nil {
		return false, err
	}
	return n[deviceID] > 0, nil
}

// DeliverOrders subscribes a gateway node of a cluster to the rollout
// orders and publishes each to the device's order topic through gw.
// Orders for devices not connected here cost one publish without
// subscribers.
func (e *Engine) DeliverOrders(gw OrderPublisher) (bus.Subscription, error) {
	if e.opts.Bus == nil {
		return nil, errors.New("rollout: DeliverOrders needs Options.Bus (a cluster)")
	}
	sub, err := e.opts.Bus.Subscribe(OrdersSubject, func(m bus.Message) {
		o, err := DecodeOrder(m.Data)
		if err != nil {
			e.log.Warn("rollout order refused", "err", err)
			return
		}
		e.live.Store(true) // before the publish: see above
		if err := gw.PublishOrder(o.Device, o.Order); err != nil {
			e.log.Warn("publish update order", "device_id", o.Device, "err", err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to rollout orders: %w", err)
	}
	return sub, nil
}

// Redeliver publishes again, through gw, the order of every running
// rollout to each device connected to gw that is still pending in a
// started wave and was ordered: what a gateway node cut off from the bus
// may have missed. A gateway node of a cluster calls it after each
// reconnection of its bus; it reads the store only, and returns how many
// orders it published.
func (e *Engine) Redeliver(ctx context.Context, gw Gateway) (int, error) {
	rs, err := e.opts.Store.ListRollouts(ctx, store.RolloutFilter{Statuses: []store.RolloutStatus{store.RolloutRunning}, Limit: 1000})
	if err != nil {
		return 0, fmt.Errorf("redeliver rollout orders: %w", err)
	}
	n := 0
	for _, r := range rs {
		order, err := orderOf(r)
		if err != nil {
			return n, err
		}
		err = e.eachPending(ctx, r, func(d store.RolloutDevice) error {
			if d.OrderedAt.IsZero() || gw.Connected(d.DeviceID) == 0 {
				return nil
			}
			e.live.Store(true) // before the publish, as in DeliverOrders
			if err := gw.PublishOrder(d.DeviceID, order); err != nil {
				e.log.Warn("publish update order again", "rollout", r.ID, "device_id", d.DeviceID, "err", err)
				return nil
			}
			n++
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("redeliver rollout orders: %w", err)
		}
	}
	return n, nil
}
