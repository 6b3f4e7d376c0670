package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/alert"
)

// TestClusterDetection: two ward serve nodes sharing PostgreSQL and NATS.
// A device attacks (publishes outside its topic tree) through node A's
// gateway; node A ships its window aggregates on the bus, a detector
// worker stores them, the detect leader (whichever node holds the lock)
// evaluates the fleet's window and the alert is visible through node B's
// API.
func TestClusterDetection(t *testing.T) {
	t.Setenv("WARD_DETECT_WINDOW", "2s")
	a, b, _ := startCluster(t)
	cert := a.enroll(t, "sensor-x")
	dev, err := a.connect(&cert, "sensor-x", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Disconnect(0)
	for i := range 8 {
		dev.publish(t, fmt.Sprintf("devices/other-%d/cmd", i), "x")
	}
	// Windows of 2 s, a leader that waits out its takeover first: poll
	// node B's API (there is no event to wait on across nodes).
	deadline := time.Now().Add(60 * time.Second)
	for {
		var as []alert.Alert
		if err := b.api.Get(context.Background(), "/api/v1/alerts?device=sensor-x&rule=authz-failures", &as); err != nil {
			t.Fatal(err)
		}
		if len(as) > 0 {
			if as[0].Evidence.Value <= 5 {
				t.Errorf("alert evidence %+v: want the denials made through node A, over the threshold 5", as[0].Evidence)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no authz-failures alert through node B 60 s after the attack through node A")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
