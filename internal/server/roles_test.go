package server

import (
	"context"
	"os"
	"testing"
	"time"

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
