package gateway

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/wardproject/ward/internal/pki"
)

// remoteIP strips the port of a remote address.
func remoteIP(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// SetVerbose turns per-message logging of a device's traffic on or off
// (the "raise the device's log level" mitigation). Logged at Info: topic,
// size, client ID; never the payload.
func (g *Gateway) SetVerbose(id string, on bool) {
	if on {
		g.verbose.Store(id, struct{}{})
	} else {
		g.verbose.Delete(id)
	}
}

// Verbose reports whether a device's traffic is logged.
func (g *Gateway) Verbose(id string) bool {
	_, ok := g.verbose.Load(id)
	return ok
}

// ServerTopicPrefix is the namespace of messages Ward itself publishes on
// its broker (alert notifications). Devices may subscribe to it only when
// the operator grants it (e.g. --allow-subscribe 'ward/alerts/#').
const ServerTopicPrefix = "ward/"

// ErrNotRunning is returned by Publish before Run has started the broker.
var ErrNotRunning = errors.New("gateway is not running")

// Publish publishes a message from Ward itself; topic must be under
// ServerTopicPrefix. notify's MQTT sink uses it.
func (g *Gateway) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if !strings.HasPrefix(topic, ServerTopicPrefix) {
		return fmt.Errorf("gateway publishes only under %s, not %q", ServerTopicPrefix, topic)
	}
	srv := g.srv.Load()
	if srv == nil {
		return ErrNotRunning
	}
	return srv.Publish(topic, payload, retain, qos)
}

// OrderTopic is the one topic of a device's tree on which only Ward
// publishes: its firmware update orders (update.OrderTopic; the update
// package's tests hold the two to one name). The device may subscribe to
// it, never publish on it.
func OrderTopic(deviceID string) string {
	return DevicePrefix + "/" + deviceID + "/update/cmd"
}

// PublishOrder publishes a firmware update order to one device, on its
// OrderTopic at QoS 1 (not retained): the one topic outside
// ServerTopicPrefix that Ward itself publishes on. Package rollout sends
// its orders with it.
func (g *Gateway) PublishOrder(deviceID string, payload []byte) error {
	if err := pki.CheckDeviceID(deviceID); err != nil {
		return fmt.Errorf("publish update order: %w", err)
	}
	srv := g.srv.Load()
	if srv == nil {
		return ErrNotRunning
	}
	return srv.Publish(OrderTopic(deviceID), payload, false, 1)
}

// isOrderTopic reports whether topic is some device's OrderTopic.
func isOrderTopic(topic string) bool {
	rest, ok := strings.CutPrefix(topic, DevicePrefix+"/")
	if !ok {
		return false
	}
	id, tail, ok := strings.Cut(rest, "/")
	return ok && tail == "update/cmd" && pki.CheckDeviceID(id) == nil
}

// DeviceAddresses returns, per connected device, the IP addresses its live
// sessions come from (the network sensor maps hosts to devices with it).
func (g *Gateway) DeviceAddresses() map[string][]string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := map[string][]string{}
	for id, ds := range g.devices {
		seen := map[string]bool{}
		for s := range ds.sessions {
			ip := remoteIP(s.remote)
			if !seen[ip] {
				seen[ip] = true
				out[id] = append(out[id], ip)
			}
		}
	}
	return out
}

// Addresses returns the IP addresses the device's live sessions on this
// gateway come from, sorted and without duplicates (a cluster's session
// directory carries them to the API nodes).
func (g *Gateway) Addresses(id string) []string {
	var out []string
	g.mu.RLock()
	if ds := g.devices[id]; ds != nil {
		for s := range ds.sessions {
			out = append(out, remoteIP(s.remote))
		}
	}
	g.mu.RUnlock()
	slices.Sort(out)
	return slices.Compact(out)
}

// MaxRetainedPerDevice bounds the retained messages one device may hold on
// the broker: past it, a retained publish to a new topic is delivered but
// not retained (and counted as a "retained" limit hit), so that no device
// can grow the broker's memory without bound.
const MaxRetainedPerDevice = 100

// admitRetained tracks a retained publish and reports whether it may be
// retained. An empty payload deletes the retained message.
func (ds *deviceState) admitRetained(topic string, empty bool) bool {
	ds.retainedMu.Lock()
	defer ds.retainedMu.Unlock()
	if empty {
		delete(ds.retained, topic)
		return true
	}
	if _, ok := ds.retained[topic]; ok {
		return true
	}
	if len(ds.retained) >= MaxRetainedPerDevice {
		return false
	}
	if ds.retained == nil {
		ds.retained = map[string]struct{}{}
	}
	ds.retained[topic] = struct{}{}
	return true
}
