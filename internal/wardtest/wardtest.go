// Package wardtest holds helpers for Ward's tests only: golden files with
// an -update flag, external-server checks that skip (or fail under
// WARD_TEST_REQUIRE_SERVERS=1) when PostgreSQL or NATS is absent, and the
// location of the shared evaluation data.
package wardtest

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wardproject/ward/internal/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// Golden compares got with the golden file at path, or rewrites it with -update.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, d)
	}
}

// requireServers reports whether CI demands every external server.
func requireServers() bool { return os.Getenv("WARD_TEST_REQUIRE_SERVERS") == "1" }

// Need checks that a TCP server answers at addr; if not, the test is
// skipped with how to start it, or fails when WARD_TEST_REQUIRE_SERVERS=1.
func Need(t testing.TB, name, addr, howto string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return
	}
	if requireServers() {
		t.Fatalf("%s is not reachable at %s (%v) and WARD_TEST_REQUIRE_SERVERS=1; start it: %s", name, addr, err, howto)
	}
	t.Skipf("%s is not reachable at %s (%v); start it with: %s", name, addr, err, howto)
}

// Postgres returns the DSN of the test PostgreSQL, skipping when it is down.
func Postgres(t testing.TB) string {
	t.Helper()
	addr := "127.0.0.1:5432"
	Need(t, "PostgreSQL", addr, "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
	if dsn := os.Getenv("WARD_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// NATS returns the URL of the test NATS server, skipping when it is down.
func NATS(t testing.TB) string {
	t.Helper()
	Need(t, "NATS", "127.0.0.1:4222", "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server")
	return "nats://127.0.0.1:4222"
}

// DeleteNATSStream deletes a JetStream stream a test created; a stream
// that is already gone is not an error. Register it with t.Cleanup before
// starting what creates the stream, so that it runs after that has stopped.
func DeleteNATSStream(t testing.TB, url, name string) {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Errorf("connect to delete stream %s: %v", name, err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Error(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("delete stream %s: %v", name, err)
	}
}

// SharedData returns the path of ../shared/data/<rel> found by walking up
// from the working directory. When it is absent the test is skipped, or
// fails when WARD_TEST_REQUIRE_DATA=1.
func SharedData(t testing.TB, rel string) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		p := filepath.Join(dir, "shared", "data", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		p = filepath.Join(dir, "..", "shared", "data", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if os.Getenv("WARD_TEST_REQUIRE_DATA") == "1" {
		t.Fatalf("shared data %s not found beside the repository and WARD_TEST_REQUIRE_DATA=1", rel)
	}
	t.Skipf("shared data %s not found beside the repository (../shared/data); skipping", rel)
	return ""
}

// RequireTool skips (or fails under WARD_TEST_REQUIRE_SERVERS=1) when an
// external program is not installed.
func RequireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := lookPath(n); err != nil {
			if requireServers() {
				t.Fatalf("%s is not installed and WARD_TEST_REQUIRE_SERVERS=1 (.ci/run installs it)", n)
			}
			t.Skipf("%s is not installed (run scripts/install-test-deps.sh)", n)
		}
	}
}

// RequirePath skips (or fails under WARD_TEST_REQUIRE_SERVERS=1) when a
// file or directory that a test needs and howto installs is absent.
func RequirePath(t testing.TB, path, howto string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if requireServers() {
			t.Fatalf("%s is missing and WARD_TEST_REQUIRE_SERVERS=1: %s", path, howto)
		}
		t.Skipf("%s is missing: %s", path, howto)
	}
}

// SQLite opens a fresh store in a temporary directory, closed at cleanup.
func SQLite(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PostgresStore points the server's configuration at the test PostgreSQL
// (WARD_STORE_POSTGRES_DSN and a fresh WARD_STORE_POSTGRES_SCHEMA, dropped
// at cleanup) for the rest of the test. It skips like Postgres.
func PostgresStore(t *testing.T) {
	t.Helper()
	dsn := Postgres(t)
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("ward_test_%x", b)
	t.Setenv("WARD_STORE_POSTGRES_DSN", dsn)
	t.Setenv("WARD_STORE_POSTGRES_SCHEMA", schema)
	t.Cleanup(func() {
		ctx := context.Background()
		cfg, err := pgxpool.ParseConfig(dsn) // as the store parses it: pool_* parameters allowed
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
}

var netns struct {
	once   sync.Once
	prefix []string
	err    string
}

// NetNamespace returns the command prefix that runs a program in a fresh,
// empty network namespace which vanishes with the process: unshare -rn (a
// user namespace, no root needed) or, where user namespaces are off, plain
// unshare -n as root. Inside it the program has CAP_NET_ADMIN and
// CAP_NET_RAW over that namespace only, so tests can load firewall rules
// or capture on lo without touching the host. It skips (or fails under
// WARD_TEST_REQUIRE_SERVERS=1) when neither works.
func NetNamespace(t testing.TB) []string {
	t.Helper()
	RequireTool(t, "unshare")
	netns.once.Do(func() {
		var errs []string
		for _, p := range [][]string{{"unshare", "-rn"}, {"unshare", "-n"}} {
			out, err := exec.Command(p[0], append(p[1:], "true")...).CombinedOutput()
			if err == nil {
				netns.prefix = p
				return
			}
			errs = append(errs, fmt.Sprintf("%s: %v: %s", strings.Join(p, " "), err, strings.TrimSpace(string(out))))
		}
		netns.err = strings.Join(errs, "; ")
	})
	if netns.prefix == nil {
		if requireServers() {
			t.Fatalf("cannot create a network namespace and WARD_TEST_REQUIRE_SERVERS=1: %s", netns.err)
		}
		t.Skipf("cannot create a network namespace: %s", netns.err)
	}
	return slices.Clone(netns.prefix)
}
