package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestClusterRevocation: two ward serve nodes share one PostgreSQL store
// and one NATS bus. A device registered and enrolled through node A
// connects to node B's gateway; revoking it through node A disconnects it
// from node B within 2 seconds and node B refuses it afterwards.
func TestClusterRevocation(t *testing.T) {
	a, bnode, applied := startCluster(t)

	cert := a.enroll(t, "sensor-c")
	// Node B learns of the device through the bus, asynchronously: wait
	// until it has applied everything node A published so far.
	syncNode(t, a, applied)
	dev, err := bnode.connect(&cert, "sensor-c", a.srv.CA().RootPool())
	if err != nil {
		t.Fatalf("device enrolled on node A refused by node B: %v", err)
	}
	defer dev.Disconnect(0)
	dev.subscribe(t, "devices/sensor-c/#")

	begin := time.Now()
	var rr api.RevokeResponse
	if err := a.api.Post(context.Background(), "/api/v1/devices/sensor-c/revoke", api.ReasonRequest{Reason: "keyCompromise"}, &rr); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dev.lost:
		t.Logf("node B disconnected the device %v after the revocation on node A", time.Since(begin).Round(time.Millisecond))
	case <-time.After(2 * time.Second):
		t.Fatal("node B kept the revoked device connected for 2 s")
	}
	if _, err := bnode.connect(&cert, "sensor-c", a.srv.CA().RootPool()); err == nil {
		t.Error("node B accepted the revoked device again")
	}
}

// syncNode returns once another node has applied every admission change
// that node from published before the call. It publishes a barrier on
// from's own bus connection: NATS delivers one connection's messages in
// order, and a node applies them one at a time.
func syncNode(t *testing.T, from *ward, applied <-chan admissionMsg) {
	t.Helper()
	b, _ := json.Marshal(admissionMsg{Node: "test-barrier", Kind: "barrier", ID: t.Name()})
	if err := from.srv.bus.Publish(context.Background(), admissionSubject, b); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(wait)
	for {
		select {
		case m := <-applied:
			if m.Kind == "barrier" {
				return
			}
		case <-deadline:
			t.Fatal("the other node did not apply node A's admission changes")
		}
	}
}

// startCluster starts two ward serve nodes sharing one PostgreSQL store,
// one NATS bus and one CA; applied receives every admission change node B
// applies from node A.
func startCluster(t *testing.T) (a, b *ward, applied chan admissionMsg) {
	t.Helper()
	wardtest.PostgresStore(t)
	natsURL := wardtest.NATS(t)
	rb := make([]byte, 4)
	rand.Read(rb)
	t.Setenv("WARD_BUS_NATS_URL", natsURL)
	ns := fmt.Sprintf("wardtest%x", rb)
	t.Setenv("WARD_BUS_NAMESPACE", ns)
	// The nodes' queue stream reserves QueueMaxBytes (1 GiB) of JetStream
	// storage: delete it, or a long-lived nats-server fills up after some
	// dozens of runs and every NATS test fails with "insufficient storage".
	t.Cleanup(func() { wardtest.DeleteNATSStream(t, natsURL, ns+"_queues") })

	dirA, dirB := t.TempDir(), t.TempDir()
	a = start(t, dirA)
	shareCA(t, dirA, dirB)
	applied = make(chan admissionMsg, 64)
	b = startWith(t, dirB, Options{admissionApplied: func(m admissionMsg) {
		select {
		case applied <- m:
		default:
		}
	}})
	return a, b, applied
}

// TestClusterCertificateAdmittedAtOnce: a device enrolled through node A
// connects to node B at once, before waiting for any notice (node B
// re-reads the unknown serial from the store), and node A's "cert" notice
// puts the serial of a certificate it issues into node B's issued set
// without any connection to node B.
func TestClusterCertificateAdmittedAtOnce(t *testing.T) {
	a, bnode, applied := startCluster(t)

	first := a.enroll(t, "sensor-d")
	dev, err := bnode.connect(&first, "sensor-d", a.srv.CA().RootPool())
	if err != nil {
		t.Fatalf("node B refused a device enrolled through node A at once: %v", err)
	}
	dev.Disconnect(0)

	second := a.enroll(t, "sensor-e")
	syncNode(t, a, applied)
	if !bnode.srv.CA().Issued(second.Leaf.SerialNumber, "sensor-e") {
		t.Fatal("node B did not add node A's new certificate from its notice")
	}
	dev, err = bnode.connect(&second, "sensor-e", a.srv.CA().RootPool())
	if err != nil {
		t.Fatalf("node B refused a certificate it was told of: %v", err)
	}
	dev.Disconnect(0)
}

// clusterBus readies a cluster test: the shared PostgreSQL schema
// (skipped without PostgreSQL), a NATS server of the test's own (so it
// can be stopped) and the bus settings every node started afterwards
// reads, under namespace.
func clusterBus(t *testing.T, namespace string) *wardtest.NATSServer {
	t.Helper()
	wardtest.PostgresStore(t)
	nats := wardtest.StartNATS(t)
	t.Setenv("WARD_BUS_NATS_URL", nats.URL())
	t.Setenv("WARD_BUS_NAMESPACE", namespace)
	return nats
}

// shareCA copies node from's CA into the data directory to, as an
// operator would import it with --ca-cert/--ca-key, so that the nodes of
// a cluster share one CA.
func shareCA(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(to, "ca"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"root.pem", "root.key", "issuer.pem", "issuer.key"} {
		data, err := os.ReadFile(filepath.Join(from, "ca", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, "ca", f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClusterResyncAfterReconnect: node B is cut off from NATS (its
// connection alone, through a proxy) while a device connected to it is
// revoked through node A: the revocation's message never reaches B
// (fan-out is at most once). When B's connection comes back, B re-reads
// the revocations from the store and disconnects the device.
func TestClusterResyncAfterReconnect(t *testing.T) {
	nats := clusterBus(t, "resync")
	dirA, dirB := t.TempDir(), t.TempDir()
	a := start(t, dirA)
	shareCA(t, dirA, dirB)
	proxy := wardtest.NewProxy(t, strings.TrimPrefix(nats.URL(), "nats://"))
	t.Setenv("WARD_BUS_NATS_URL", "nats://"+proxy.Addr())
	resynced := make(chan struct{}, 4)
	bnode := startWith(t, dirB, Options{admissionResynced: func() { resynced <- struct{}{} }})

	cert := a.enroll(t, "sensor-r")
	dev, err := bnode.connect(&cert, "sensor-r", a.srv.CA().RootPool())
	if err != nil {
		t.Fatalf("node B refused a device enrolled through node A: %v", err)
	}
	defer dev.Disconnect(0)
	dev.subscribe(t, "devices/sensor-r/#")

	proxy.Cut()
	var rr api.RevokeResponse
	if err := a.api.Post(context.Background(), "/api/v1/devices/sensor-r/revoke", api.ReasonRequest{Reason: "keyCompromise"}, &rr); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dev.lost:
		t.Fatal("node B disconnected the device while cut off from the bus: the test does not test the resync")
	default:
	}
	proxy.Restore()
	select {
	case <-resynced:
	case <-time.After(wait):
		t.Fatal("node B did not re-read the admission state after reconnecting")
	}
	select {
	case <-dev.lost:
	case <-time.After(wait):
		t.Fatal("node B kept the device revoked while it was cut off from the bus connected after reconnecting")
	}
	if _, err := bnode.connect(&cert, "sensor-r", a.srv.CA().RootPool()); err == nil {
		t.Error("node B accepted the revoked device after reconnecting")
	}
}

// TestClusterRevocationWithoutMessage: a revocation whose bus message
// never comes (written to the shared store behind the nodes' backs, as a
// message lost to a subscriber queue overflow would leave it) still
// disconnects the device from node B at B's next periodic re-read.
func TestClusterRevocationWithoutMessage(t *testing.T) {
	clusterBus(t, "norevmsg")
	dirA, dirB := t.TempDir(), t.TempDir()
	a := start(t, dirA)
	shareCA(t, dirA, dirB)
	bnode := startWith(t, dirB, Options{revocationCheck: 500 * time.Millisecond})
	cert := a.enroll(t, "sensor-q")
	dev, err := bnode.connect(&cert, "sensor-q", a.srv.CA().RootPool())
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Disconnect(0)
	serial := fmt.Sprintf("%x", cert.Leaf.SerialNumber)
	if err := a.srv.db.RevokeCertificate(context.Background(), serial, "keyCompromise", time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dev.lost:
	case <-time.After(wait):
		t.Fatal("node B kept a device whose certificate the store has revoked, with no message on the bus")
	}
}
