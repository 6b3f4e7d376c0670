package server

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestLeaderAcceptsPoolParams: a node whose PostgreSQL DSN carries the
// pool's own parameters (pool_max_conns, which the store's pool reads)
// opens its store and also leads its scheduled jobs: the leader election's
// dedicated connections must not send pool_max_conns to the server, which
// refuses an unknown parameter and would leave the cluster without a
// leader for its audit, CRL, rollout and retention jobs.
func TestLeaderAcceptsPoolParams(t *testing.T) {
	wardtest.PostgresStore(t)
	t.Setenv("WARD_STORE_POSTGRES_DSN", os.Getenv("WARD_STORE_POSTGRES_DSN")+"&pool_max_conns=5&pool_max_conn_idle_time=1m")
	w := start(t, t.TempDir())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	led := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- w.srv.elector.Lead(ctx, "pool-params", func(ctx context.Context) error {
			close(led)
			<-ctx.Done()
			return nil
		})
	}()
	select {
	case <-led:
	case <-time.After(wait + 10*time.Second): // the takeover period (3 s) comes first
		t.Fatal("the node never led a job: its leader connection was refused with the DSN's pool parameters")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Lead = %v", err)
	}
}

// TestInfoMQTTPortByRole: GET /api/v1/info reports the answering node's
// own MQTT port on a node that runs the gateway, and no mqtt_port at all
// on an API node of a cluster, which listens for no device (port 0 would
// send a client such as ward simulate to host:0 of the API node).
func TestInfoMQTTPortByRole(t *testing.T) {
	clusterBus(t, "info")
	dirAll, dirAPI := t.TempDir(), t.TempDir()
	t.Setenv("WARD_ROLE", "all")
	all := start(t, dirAll)
	shareCA(t, dirAll, dirAPI)
	t.Setenv("WARD_ROLE", "api")
	apiNode := start(t, dirAPI)

	tests := []struct {
		name string
		node *ward
		want any // mqtt_port as JSON decodes it; nil: absent
	}{
		{name: "all", node: all, want: float64(all.srv.MQTTAddr().(*net.TCPAddr).Port)},
		{name: "api", node: apiNode, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var info map[string]any
			if err := tt.node.api.Get(context.Background(), "/api/v1/info", &info); err != nil {
				t.Fatal(err)
			}
			got, present := info["mqtt_port"]
			if tt.want == nil && present {
				t.Fatalf("mqtt_port = %v on a node without a gateway, want it absent", got)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mqtt_port (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClusterNetworkDevices: GET /api/v1/network/devices on an API node
// lists the devices connected to a gateway node with their addresses:
// the network sensor (ward ids --report) asks the API node, which holds
// no device session, and would otherwise map no host to a device and
// report the whole fleet as unknown hosts. A device that disconnects
// leaves the list.
func TestClusterNetworkDevices(t *testing.T) {
	clusterBus(t, "netdevices")
	dirAPI, dirGW := t.TempDir(), t.TempDir()
	t.Setenv("WARD_ROLE", "api")
	apiNode := start(t, dirAPI)
	shareCA(t, dirAPI, dirGW)
	t.Setenv("WARD_ROLE", "gateway")
	gw := start(t, dirGW)

	cert := apiNode.enroll(t, "cam-1")
	dev, err := gw.connect(&cert, "cam-1", apiNode.srv.CA().RootPool())
	if err != nil {
		t.Fatalf("gateway node refused a device enrolled through the API node: %v", err)
	}
	list := func() []api.NetworkDevice {
		t.Helper()
		var nds []api.NetworkDevice
		if err := apiNode.api.Get(context.Background(), "/api/v1/network/devices", &nds); err != nil {
			t.Fatal(err)
		}
		return nds
	}
	// The gateway writes its sessions to the directory every 2 s: poll
	// (no event crosses the nodes to wait on).
	want := []api.NetworkDevice{{Device: "cam-1", Model: "acme-th1", IPs: []string{"127.0.0.1"}}}
	var got []api.NetworkDevice
	until(t, 30*time.Second, "the API node to list cam-1 with its address", func() bool {
		got = list()
		return len(got) > 0
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("network devices on the API node (-want +got):\n%s", diff)
	}
	dev.Disconnect(0)
	until(t, 30*time.Second, "the API node to drop cam-1 after it disconnected", func() bool { return len(list()) == 0 })
}
