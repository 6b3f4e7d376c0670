package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wardproject/ward/internal/bus"
	"github.com/wardproject/ward/internal/gateway"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

// admissionSubject carries admission changes between the nodes of a
// cluster (ward serve nodes sharing one store and one NATS bus).
const admissionSubject = "admission"

// admissionMsg names what changed; receivers re-read it from the shared
// store (the store is the source of truth). Fan-out is at most once: a
// message published while a node was cut off from NATS never reaches it,
// so on every reconnection the node re-reads all admission state from the
// store (cluster.resync).
type admissionMsg struct {
	Node string `json:"node"`
	Kind string `json:"kind"` // device, model, crl, cert (ID: the serial)
	ID   string `json:"id,omitempty"`
}

// cluster is the fleet registry's view of the gateways: the local one at
// once, every other node's through the bus. It implements fleet.Gateway.
type cluster struct {
	node string
	bus  bus.Bus
	gw   *gateway.Gateway
	ca   *pki.CA
	db   store.Devices // devices and model policies, re-read on a peer's change
	log  *slog.Logger
	// applied, when set (tests), is called after each message from another
	// node has been handled.
	applied func(admissionMsg)
	// resynced, when set (tests), is called after each resync.
	resynced func()
	// revocationCheck is how often run re-reads the revocations (0:
	// defaultRevocationCheck; tests shorten it).
	revocationCheck time.Duration
	// reconnected receives a value when the bus has reconnected (see
	// natsbus.Options.Reconnected); run then resyncs.
	reconnected chan struct{}

	// mu serialises applying changes: a resync (store snapshot, then
	// apply) and a received change never interleave, so a change read
	// after the snapshot is applied after it and is never overwritten by
	// the older snapshot.
	mu sync.Mutex
}

// run resyncs after each bus reconnection until ctx ends.
//
// Every revocationCheck it also re-reads the revocations alone: a message
// can be lost without a reconnection (a subscriber queue overflowing), and
// a revocation is the one change that must never wait for the next one.
func (c *cluster) run(ctx context.Context) error {
	every := c.revocationCheck
	if every <= 0 {
		every = defaultRevocationCheck
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := c.reloadRevocations(ctx); err != nil && ctx.Err() == nil {
				c.log.Error("re-read revocations from the store", "err", err)
			}
		case <-c.reconnected:
			c.log.Info("bus reconnected: re-reading revocations, devices and model policies from the store")
			for err := c.resync(ctx); err != nil && ctx.Err() == nil; err = c.resync(ctx) {
				c.log.Error("re-read admission state after a bus reconnection; retrying", "err", err)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(2 * time.Second):
				}
			}
		}
	}
}

// defaultRevocationCheck is how often every node re-reads the
// revocations from the store, whatever the bus says.
const defaultRevocationCheck = time.Minute

// reloadRevocations re-reads the revocations and disconnects what they
// revoke on this node.
func (c *cluster) reloadRevocations(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ca.ReloadRevocations(ctx); err != nil {
		return err
	}
	c.gw.CertificateRevoked()
	return nil
}

// resync re-reads every admission change this node may have missed from
// the store: revocations (and disconnects what they revoke), devices and
// model policies. Certificates issued elsewhere need nothing: the gateway
// reads an unknown serial from the store at the handshake.
func (c *cluster) resync(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resynced != nil {
		defer c.resynced()
	}
	if err := c.ca.ReloadRevocations(ctx); err != nil {
		return fmt.Errorf("reload revocations: %w", err)
	}
	c.gw.CertificateRevoked()
	ps, err := c.db.ListModelPolicies(ctx)
	if err != nil {
		return fmt.Errorf("reload model policies: %w", err)
	}
	for _, p := range ps {
		c.gw.SetModelPolicy(p)
	}
	ds, err := c.db.ListDevices(ctx)
	if err != nil {
		return fmt.Errorf("reload devices: %w", err)
	}
	for _, d := range ds {
		c.gw.SetDevice(d)
	}
	return nil
}

func (c *cluster) publish(kind, id string) {
	b, _ := json.Marshal(admissionMsg{Node: c.node, Kind: kind, ID: id})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.bus.Publish(ctx, admissionSubject, b); err != nil {
		c.log.Error("tell the cluster of an admission change", "kind", kind, "device_id", id, "err", err)
	}
}

// SetDevice applies a device change locally and on every node.
func (c *cluster) SetDevice(d store.Device) {
	c.gw.SetDevice(d)
	c.publish("device", d.ID)
}

// SetModelPolicy applies a model policy locally and on every node.
func (c *cluster) SetModelPolicy(p store.ModelPolicy) {
	c.gw.SetModelPolicy(p)
	c.publish("model", p.Model)
}

// CertificateRevoked applies a revocation locally and on every node.
func (c *cluster) CertificateRevoked() {
	c.gw.CertificateRevoked()
	c.publish("crl", "")
}

// CertificateIssued tells every other node that this node issued the
// device certificate with this serial (the CA calls it, see
// pki.CA.NotifyIssued): they add it to their issued set at once.
func (c *cluster) CertificateIssued(serial string) { c.publish("cert", serial) }

// Connected counts this node's sessions of the device.
func (c *cluster) Connected(id string) int { return c.gw.Connected(id) }

// ConnectedIDs lists the devices with a session on this node.
func (c *cluster) ConnectedIDs(after string, max int) []string { return c.gw.ConnectedIDs(after, max) }

// receive applies another node's change from the shared store.
func (c *cluster) receive(m bus.Message) {
	var msg admissionMsg
	if err := json.Unmarshal(m.Data, &msg); err != nil || msg.Node == c.node {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.applied != nil {
		defer c.applied(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch msg.Kind {
	case "device":
		d, err := c.db.GetDevice(ctx, msg.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			c.gw.RemoveDevice(msg.ID)
		case err != nil:
			c.log.Error("apply a cluster device change", "device_id", msg.ID, "err", err)
		default:
			c.gw.SetDevice(d)
		}
	case "model":
		ps, err := c.db.ListModelPolicies(ctx)
		if err != nil {
			c.log.Error("apply a cluster model change", "err", err)
			return
		}
		for _, p := range ps {
			if p.Model == msg.ID {
				c.gw.SetModelPolicy(p)
			}
		}
	case "cert":
		if _, err := c.ca.LearnCertificate(ctx, msg.ID); err != nil {
			c.log.Error("apply a cluster certificate issuance", "serial", msg.ID, "err", err)
		}
	case "crl":
		if err := c.ca.ReloadRevocations(ctx); err != nil {
			c.log.Error("apply a cluster revocation", "err", err)
			return
		}
		c.gw.CertificateRevoked()
	}
}
