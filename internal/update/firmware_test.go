package update

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tree lists the repository's files (names and sizes), as a picture of
// what a failed publish must leave unchanged.
func tree(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == lockFile {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPublishListLatest(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second).Add(-3 * time.Hour)
	clk := &clock{t: start}
	f := newFixture(t, clk.Now)
	ctx := context.Background()
	for _, v := range []string{"1.5.0", "1.10.0", "1.4.0"} {
		clk.Add(time.Hour)
		rel := Release{Model: "acme-th1", Version: v, MinVersion: "1.4.0", Notes: "release " + v, File: "fw.bin"}
		fw, err := f.repo.Publish(ctx, rel, bytes.NewReader([]byte("firmware "+v)))
		if err != nil {
			t.Fatal(err)
		}
		if !fw.Published.Equal(clk.Now()) || fw.Length != int64(len("firmware "+v)) || len(fw.SHA256) != 64 || len(fw.SHA512) != 128 {
			t.Fatalf("Publish(%s) = %+v", v, fw)
		}
	}
	var got []string
	for _, fw := range f.repo.Firmware() {
		got = append(got, fw.Model+" "+fw.Version)
	}
	if d := cmp.Diff([]string{"acme-th1 1.10.0", "acme-th1 1.5.0", "acme-th1 1.4.0"}, got); d != "" {
		t.Errorf("Firmware() order (-want +got):\n%s", d)
	}
	latest := Latest(f.repo.Firmware())["acme-th1"]
	if latest.Version != "1.10.0" || !latest.Published.Equal(start.Add(2*time.Hour)) {
		t.Errorf("Latest = %+v", latest)
	}
	// A device downloads it with go-tuf.
	data, _, err := fetch(f.client(f.root1, ""), "acme-th1/1.10.0/fw.bin")
	if err != nil || string(data) != "firmware 1.10.0" {
		t.Fatalf("go-tuf download: %q, %v", data, err)
	}
	// The same bytes again: a no-op. Anything else: refused.
	before := tree(t, f.dir())
	if _, err := f.repo.Publish(ctx, Release{Model: "acme-th1", Version: "1.5.0", MinVersion: "1.4.0", Notes: "release 1.5.0", File: "fw.bin"},
		bytes.NewReader([]byte("firmware 1.5.0"))); err != nil {
		t.Fatalf("republishing the same release: %v", err)
	}
	for name, rel := range map[string]Release{
		"other bytes":     {Model: "acme-th1", Version: "1.5.0", MinVersion: "1.4.0", Notes: "release 1.5.0", File: "fw.bin"},
		"other file name": {Model: "acme-th1", Version: "1.5.0", File: "other.bin"},
		"other notes":     {Model: "acme-th1", Version: "1.5.0", MinVersion: "1.4.0", Notes: "changed", File: "fw.bin"},
	} {
		content := "firmware 1.5.0"
		if name == "other bytes" {
			content = "evil 1.5.0"
		}
		if _, err := f.repo.Publish(ctx, rel, strings.NewReader(content)); !errors.Is(err, ErrPublished) {
			t.Errorf("%s: %v, want ErrPublished", name, err)
		}
	}
	if d := cmp.Diff(before, tree(t, f.dir())); d != "" {
		t.Errorf("refused publishes changed the repository (-before +after):\n%s", d)
	}
	// Site lists what another process published.
	fws, err := Site{DataDir: f.dataDir}.ListFirmware(ctx)
	if err != nil || len(fws) != 3 {
		t.Fatalf("Site.ListFirmware = %d, %v", len(fws), err)
	}
}

func TestPublishRefusesBadRelease(t *testing.T) {
	f := newFixture(t, nil)
	f.addFirmware("1.5.0", fwBytes)
	before := tree(t, f.dir())
	for _, rel := range []Release{
		{Model: "acme-th1", Version: "1.5a", File: "fw.bin"},
		{Model: "acme-th1", Version: "release-7", File: "fw.bin"},
		{Model: "acme-th1", Version: "", File: "fw.bin"},
		{Model: "acme-th1", Version: "../acme-th2/1.0", File: "fw.bin"},
		{Model: "acme-th1/../acme-th2", Version: "1.6.0", File: "fw.bin"},
		{Model: "../acme-th2", Version: "1.6.0", File: "fw.bin"},
		{Model: "acme-th1", Version: "1.6.0", File: "../../acme-th2/1.0/fw.bin"},
		{Model: "acme-th1", Version: "1.6.0", File: ".hidden"},
		{Model: "acme-th1", Version: "1.6.0", File: ""},
		{Model: "acme-th1", Version: "1.6.0", MinVersion: "1.7.0", File: "fw.bin"},
		{Model: "acme-th1", Version: "1.6.0", MinVersion: "latest", File: "fw.bin"},
		{Model: "acme-th1", Version: "1.6.0", Notes: strings.Repeat("n", 4097), File: "fw.bin"},
		{Model: "acme-th1", Version: "1.6.0", Notes: "\xff", File: "fw.bin"},
	} {
		_, err := f.repo.Publish(context.Background(), rel, bytes.NewReader(fwBytes))
		if !errors.Is(err, ErrBadRelease) {
			t.Errorf("Publish(%+v) = %v, want ErrBadRelease", rel, err)
		}
	}
	if d := cmp.Diff(before, tree(t, f.dir())); d != "" {
		t.Errorf("refused releases changed the repository (-before +after):\n%s", d)
	}
}

// cancelAfter cancels its context once n bytes have been read through it
// (counting every pass), as a killed upload or a Ctrl-C does.
type cancelAfter struct {
	r      io.ReadSeeker
	n      int64
	read   int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if len(p) > 4096 {
		p = p[:4096]
	}
	n, err := c.r.Read(p)
	if c.read += int64(n); c.read >= c.n {
		c.cancel()
	}
	return n, err
}

func (c *cancelAfter) Seek(off int64, whence int) (int64, error) { return c.r.Seek(off, whence) }

// TestPublishCancelledLeavesNothing kills publishes mid-way, while hashing
// and while storing, of an existing model and of a model's first firmware
// (which would create its delegation): the repository is unchanged.
func TestPublishCancelledLeavesNothing(t *testing.T) {
	f := newFixture(t, nil)
	f.addFirmware("1.5.0", fwBytes)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for _, model := range []string{"acme-th1", "acme-th2"} {
		for _, at := range []int64{int64(len(big)) / 2, int64(len(big)) * 3 / 2} {
			before := tree(t, f.dir())
			ctx, cancel := context.WithCancel(context.Background())
			r := &cancelAfter{r: bytes.NewReader(big), n: at, cancel: cancel}
			_, err := f.repo.Publish(ctx, Release{Model: model, Version: "1.6.0", File: "fw.bin"}, r)
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s cancelled at byte %d: %v, want context.Canceled", model, at, err)
			}
			if d := cmp.Diff(before, tree(t, f.dir())); d != "" {
				t.Fatalf("%s cancelled at byte %d left (-before +after):\n%s", model, at, d)
			}
		}
	}
	// The repository still opens and the next publish works.
	if _, err := f.repo.Publish(context.Background(), Release{Model: "acme-th2", Version: "1.6.0", File: "fw.bin"}, bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	if data, _, err := fetch(f.client(f.root1, ""), "acme-th2/1.6.0/fw.bin"); err != nil || !bytes.Equal(data, big) {
		t.Fatalf("download after the cancelled publishes: %v", err)
	}
}

// TestPublishNeedsTheModelKey: a publisher that holds one model's key (and
// the online keys) but not the targets key cannot publish another model's
// firmware, whether that model has a delegation (to a key it lacks) or not
// (creating one needs the targets key): a *MissingKeyError naming the
// role, and nothing written.
func TestPublishNeedsTheModelKey(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.addFirmware("1.5.0", fwBytes)
	if _, err := f.repo.Publish(ctx, Release{Model: "acme-cam2", Version: "2.0.0", File: "cam.bin"}, strings.NewReader("cam")); err != nil {
		t.Fatal(err)
	}
	// A publisher's key directory: everything but root, targets and acme-cam2's key.
	pubDir := t.TempDir()
	keys, _ := filepath.Glob(filepath.Join(f.dataDir, SiteKeysDir, "*.key"))
	for _, k := range keys {
		base := filepath.Base(k)
		if strings.HasPrefix(base, "root-") || strings.HasPrefix(base, "targets-") || strings.HasPrefix(base, "models-acme-cam2-") {
			continue
		}
		b, err := os.ReadFile(k)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pubDir, base), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kr, err := LoadKeyring(pubDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := Open(Options{Dir: f.dir(), Keys: kr})
	if err != nil {
		t.Fatal(err)
	}
	before := tree(t, f.dir())
	for _, tt := range []struct{ model, role string }{{"acme-cam2", "models/acme-cam2"}, {"acme-th9", "targets"}} {
		_, err := pub.Publish(ctx, Release{Model: tt.model, Version: "9.0.0", File: "fw.bin"}, strings.NewReader("evil"))
		var mk *MissingKeyError
		if !errors.As(err, &mk) || mk.Role != tt.role {
			t.Errorf("publish %s with acme-th1's key: %v, want a MissingKeyError for %s", tt.model, err, tt.role)
		}
	}
	if d := cmp.Diff(before, tree(t, f.dir())); d != "" {
		t.Errorf("refused publishes changed the repository (-before +after):\n%s", d)
	}
	if _, err := pub.Publish(ctx, Release{Model: "acme-th1", Version: "1.6.0", File: "fw.bin"}, strings.NewReader("ok")); err != nil {
		t.Fatalf("publishing its own model: %v", err)
	}
}

// errAfter fails its stream after n bytes, as a client that goes away.
type errAfter struct{ n int }

func (e *errAfter) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	k := min(len(p), e.n)
	e.n -= k
	return k, nil
}

// TestPublishStream: an upload is spooled beside the repository and
// published; one over the bound, an empty one and a broken one are
// refused and leave nothing (no spool file either).
func TestPublishStream(t *testing.T) {
	f := newFixture(t, nil)
	site := Site{DataDir: f.dataDir}
	ctx := context.Background()
	rel := Release{Model: "acme-th1", Version: "2.0.0", File: "fw.bin"}
	before := tree(t, f.dir())
	for name, tt := range map[string]struct {
		r    io.Reader
		want error
	}{
		"over the bound": {bytes.NewReader(make([]byte, 1001)), ErrTooLarge},
		"empty":          {bytes.NewReader(nil), ErrBadRelease},
		"broken":         {&errAfter{n: 500}, ErrUpload},
	} {
		if _, err := site.PublishStream(ctx, rel, tt.r, 1000); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", name, err, tt.want)
		}
	}
	if d := cmp.Diff(before, tree(t, f.dir())); d != "" {
		t.Fatalf("refused uploads left (-before +after):\n%s", d)
	}
	fw, err := site.PublishStream(ctx, rel, bytes.NewReader(make([]byte, 1000)), 1000)
	if err != nil || fw.Length != 1000 {
		t.Fatalf("PublishStream = %+v, %v", fw, err)
	}
	spool, _ := filepath.Glob(filepath.Join(f.dir(), ".upload-*"))
	if len(spool) != 0 {
		t.Fatalf("spool files left: %v", spool)
	}
	// A crash's leftover spool (two days old) goes at the next upload; a
	// younger one (an upload in progress in another process) stays.
	old, young := filepath.Join(f.dir(), ".upload-crashed"), filepath.Join(f.dir(), ".upload-inflight")
	for _, n := range []string{old, young} {
		if err := os.WriteFile(n, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(old, time.Now().Add(-48*time.Hour), time.Now().Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := site.PublishStream(ctx, Release{Model: "acme-th1", Version: "2.0.1", File: "fw.bin"}, bytes.NewReader(make([]byte, 10)), 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the crashed upload's spool is still there: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("an upload in progress lost its spool: %v", err)
	}
	os.Remove(young)
	if _, err := (Site{DataDir: t.TempDir()}).PublishStream(ctx, rel, bytes.NewReader([]byte("x")), 0); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("no repository: %v", err)
	}
}
