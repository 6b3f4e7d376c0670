package update

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/wardproject/ward/internal/wardtest"
)

// TestInteropTufJS: tuf-js 5.0.1 (a TUF client written in TypeScript)
// refreshes a Ward repository, walks a root rotation and the models/<model>
// delegation (its %2F file name) and downloads a firmware target by its
// consistent-snapshot name; it refuses tampered bytes.
func TestInteropTufJS(t *testing.T) {
	wardtest.RequireTool(t, "node")
	script := filepath.Join("..", "..", "scripts", "tuf-js", "fetch.mjs")
	wardtest.RequirePath(t, filepath.Join("..", "..", "scripts", "tuf-js", "node_modules", "tuf-js"), "run scripts/install-test-deps.sh (npm ci in scripts/tuf-js)")

	f := newFixture(t, nil)
	tf := f.addFirmware("1.5.0", fwBytes)
	k, err := f.keys.Generate("root")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Rotate(context.Background(), "root", []*metadata.Key{k}, 1); err != nil {
		t.Fatal(err)
	}
	root1 := filepath.Join(t.TempDir(), "root.json")
	os.WriteFile(root1, f.root1, 0o644)

	run := func(out string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, "node", script, f.srv.URL+"/", root1, fwPath, out).CombinedOutput()
	}
	out := filepath.Join(t.TempDir(), "fw.bin")
	msg, err := run(out)
	t.Logf("%s", msg)
	if err != nil {
		t.Fatalf("tuf-js: %v", err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, fwBytes) {
		t.Fatal("tuf-js wrote bytes that differ from the firmware")
	}

	evil := bytes.Repeat([]byte("X"), len(fwBytes))
	for _, h := range []string{"sha256", "sha512"} {
		f.write("targets/acme-th1/1.5.0/"+tf.Hashes[h].String()+".fw.bin", evil)
	}
	msg, err = run(filepath.Join(t.TempDir(), "fw.bin"))
	t.Logf("%s", msg)
	if err == nil {
		t.Fatal("tuf-js accepted tampered firmware bytes")
	}
}
