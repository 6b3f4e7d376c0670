package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/wardproject/ward/internal/update"
)

var (
	fw150 = bytes.Repeat([]byte("firmware 1.5.0 "), 20000) // 300 kB
	fw160 = bytes.Repeat([]byte("firmware 1.6.0 "), 20000)
)

func order(model, version string) update.Order {
	return update.Order{Rollout: "r-1", Model: model, Version: version}
}

// mustRefuse runs the order and checks that it failed safely: an error,
// a last status failed whose reason contains want, the install command
// never ran and the installed version unchanged.
func mustRefuse(t *testing.T, e *env, in *Installer, o update.Order, want string) {
	t.Helper()
	before := in.Installed()
	var st statuses
	err := in.Install(context.Background(), o, st.report)
	if err == nil {
		t.Fatalf("order %+v: installed, want a refusal (%s)", o, want)
	}
	last := st.last()
	if last.State != update.StateFailed || !strings.Contains(last.Reason, want) {
		t.Fatalf("last status %+v (states %s), want failed with a reason containing %q", last, st.states(), want)
	}
	if err := last.Check(); err != nil {
		t.Fatalf("status is not valid on the wire: %v", err)
	}
	if e.ran() {
		t.Fatal("the install command ran")
	}
	if in.Installed() != before {
		t.Fatalf("installed version moved to %s", in.Installed())
	}
	if s, _, _ := LoadState(in.opts.Dir); s.Version != before {
		t.Fatalf("state file says %s, want %s", s.Version, before)
	}
	t.Logf("refused: %s", last.Reason)
}

func TestInstallSignedFirmware(t *testing.T) {
	e := newEnv(t)
	e.publish("acme-th1", "1.5.0", "1.4.0", fw150)
	var sl sleeps
	in := e.installer("acme-th1", "1.4.2", &sl, nil)
	var st statuses
	if err := in.Install(context.Background(), order("acme-th1", "1.5.0"), st.report); err != nil {
		t.Fatal(err)
	}
	if got := st.states(); got != "downloading,verified,installing,installed" {
		t.Fatalf("states %s", got)
	}
	got, err := os.ReadFile(e.installedPath())
	if err != nil || !bytes.Equal(got, fw150) {
		t.Fatalf("the install command got other bytes (%d, %v)", len(got), err)
	}
	if in.Installed() != "1.5.0" {
		t.Fatalf("installed %s", in.Installed())
	}
	// The state survives a restart, 0600.
	fi, err := os.Stat(filepath.Join(e.dir, StateFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
	in2 := e.installer("acme-th1", "1.0.0", &sl, nil)
	if in2.Installed() != "1.5.0" {
		t.Fatalf("after restart installed = %s, want 1.5.0 from the state file", in2.Installed())
	}
	// A duplicate order is answered, not re-done.
	os.Remove(e.installedPath())
	var dup statuses
	if err := in2.Install(context.Background(), order("acme-th1", "1.5.0"), dup.report); err != nil || dup.states() != "installed" || dup.last().Reason != "already installed" {
		t.Fatalf("duplicate: %v %s %q", err, dup.states(), dup.last().Reason)
	}
	if e.ran() {
		t.Fatal("a duplicate order ran the install command again")
	}
	// No download file is left behind.
	if ents, _ := os.ReadDir(filepath.Join(e.dir, downloadsDir)); len(ents) != 0 {
		t.Fatalf("downloads left: %v", ents)
	}
}

func TestAttackTamperedArtifact(t *testing.T) {
	e := newEnv(t)
	tf := e.publish("acme-th1", "1.5.0", "", fw150)
	evil := bytes.Repeat([]byte("X"), len(fw150))
	for _, h := range []string{"sha256", "sha512"} {
		e.write(storedName(tf, h), evil)
	}
	var sl sleeps
	in := e.installer("acme-th1", "1.4.2", &sl, nil)
	mustRefuse(t, e, in, order("acme-th1", "1.5.0"), "do not match the signed hash")
	if n := e.targetRequests(); n != 1 {
		t.Errorf("%d target requests, want 1 (a hash mismatch is not retried)", n)
	}
}

func TestAttackTamperedMetadata(t *testing.T) {
	e := newEnv(t)
	e.publish("acme-th1", "1.5.0", "", fw150)
	// Edit the model's signed metadata after signing: a bigger length.
	name := "2.models%2Facme-th1.json"
	var doc map[string]any
	if err := json.Unmarshal(e.read(name), &doc); err != nil {
		t.Fatal(err)
	}
	tgt := doc["signed"].(map[string]any)["targets"].(map[string]any)["acme-th1/1.5.0/fw.bin"].(map[string]any)
	tgt["length"] = float64(len(fw150) * 2)
	b, _ := json.Marshal(doc)
	e.write(name, b)
	var sl sleeps
	in := e.installer("acme-th1", "1.4.2", &sl, nil)
	mustRefuse(t, e, in, order("acme-th1", "1.5.0"), "TUF metadata")
	if n := e.targetRequests(); n != 0 {
		t.Errorf("%d target requests, want none", n)
	}
}

func TestAttackRollback(t *testing.T) {
	e := newEnv(t)
	e.publish("acme-th1", "1.4.0", "", []byte("old firmware with a known hole"))
	e.publish("acme-th1", "1.5.0", "", fw150)
	e.publish("acme-th1", "2.0.0", "1.8.0", fw160)
	var sl sleeps
	in := e.installer("acme-th1", "1.5.0", &sl, nil)
	t.Run("older than installed", func(t *testing.T) {
		mustRefuse(t, e, in, order("acme-th1", "1.4.0"), "older than the installed 1.5.0 (rollback)")
	})
	t.Run("below min_version", func(t *testing.T) {
		mustRefuse(t, e, in, order("acme-th1", "2.0.0"), "needs at least 1.8.0 installed first (min_version)")
	})
	t.Run("version that cannot be ordered", func(t *testing.T) {
		mustRefuse(t, e, in, order("acme-th1", "release-7"), "cannot order release-7")
	})
	t.Run("not signed", func(t *testing.T) {
		mustRefuse(t, e, in, order("acme-th1", "1.9.0"), "signs no firmware for acme-th1 1.9.0")
	})
	t.Run("survives a restart", func(t *testing.T) {
		in2 := e.installer("acme-th1", "1.0.0", &sl, nil) // --firmware-version ignored: the state file wins
		mustRefuse(t, e, in2, order("acme-th1", "1.4.0"), "rollback")
	})
	if n := e.targetRequests(); n != 0 {
		t.Errorf("%d target requests, want none", n)
	}
}

func TestAttackFreeze(t *testing.T) {
	e := newEnv(t)
	e.publish("acme-th1", "1.5.0", "", fw150)
	var sl sleeps
	// Two days on, the server (or a machine in the middle) still serves
	// the same metadata: the timestamp expired after one day.
	in := e.installer("acme-th1", "1.4.2", &sl, func(o *InstallerOptions) {
		o.Now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	})
	mustRefuse(t, e, in, order("acme-th1", "1.5.0"), "expired")
}

func TestAttackMixAndMatch(t *testing.T) {
	e := newEnv(t)
	e.publish("acme-th1", "1.5.0", "", fw150)
	e.publish("acme-th1", "1.6.0", "", fw160)
	// The model's metadata version 3 (listing 1.6.0) replaced by version 2
	// under the name the snapshot names.
	e.write("3.models%2Facme-th1.json", e.read("2.models%2Facme-th1.json"))
	var sl sleeps
	in := e.installer("acme-th1", "1.5.0", &sl, nil)
	mustRefuse(t, e, in, order("acme-th1", "1.6.0"), "TUF metadata")
}

func TestAttackEndlessData(t *testing.T) {
	e := newEnv(t)
	tf := e.publish("acme-th1", "1.5.0", "", fw150)
	e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/tuf/targets/") {
			return false
		}
		chunk := bytes.Repeat([]byte("A"), 32<<10)
		for i := 0; i < 1024; i++ { // up to 32 MiB, far past the signed length
			if _, err := w.Write(chunk); err != nil {
				return true
			}
		}
		return true
	})
	var sl sleeps
	in := e.installer("acme-th1", "1.4.2", &sl, nil)
	mustRefuse(t, e, in, order("acme-th1", "1.5.0"), "more bytes than the signed length")
	if _, n := e.hitsOf(storedName(tf, "sha256")); n > 64<<20 {
		t.Errorf("served %d bytes", n)
	}
	if sl.count() != 0 {
		t.Errorf("retried endless data %d times", sl.count())
	}
}

func TestAttackOnlineKeyAddsTarget(t *testing.T) {
	e := newEnv(t)
	e.publish("acme-th1", "1.5.0", "", fw150)
	evil := []byte("firmware with a backdoor")
	tf := e.evilTarget("acme-th1/6.6.6/fw.bin", `{"model":"acme-th1","version":"6.6.6"}`, evil)
	snapshotKey := e.repo.Root().Signed.Roles[metadata.SNAPSHOT].KeyIDs
	e.forgeDelegated("models/acme-th1", snapshotKey, func(d *metadata.TargetsType) {
		d.Targets[tf.Path] = tf
	})
	var sl sleeps
	in := e.installer("acme-th1", "1.5.0", &sl, nil)
	mustRefuse(t, e, in, order("acme-th1", "6.6.6"), "TUF metadata")
}

func TestAttackDelegationSignsOtherModel(t *testing.T) {
	e := newEnv(t)
	e.publish("acme-th1", "1.5.0", "", fw150)
	e.publish("beta-x", "1.0.0", "", []byte("beta firmware"))
	// acme-th1's role, with its real key, signs a beta-x path and an
	// acme-th1 path whose custom model is beta-x.
	other := e.evilTarget("beta-x/9.0.0/fw.bin", `{"model":"beta-x","version":"9.0.0"}`, []byte("evil for beta"))
	mislabelled := e.evilTarget("acme-th1/9.0.0/fw.bin", `{"model":"beta-x","version":"9.0.0"}`, []byte("evil for beta too"))
	e.forgeDelegated("models/acme-th1", nil, func(d *metadata.TargetsType) {
		d.Targets[other.Path] = other
		d.Targets[mislabelled.Path] = mislabelled
	})
	var sl sleeps
	t.Run("path of another model", func(t *testing.T) {
		in := e.installer("beta-x", "1.0.0", &sl, func(o *InstallerOptions) { o.Dir = t.TempDir() })
		mustRefuse(t, e, in, order("beta-x", "9.0.0"), "signs no firmware for beta-x 9.0.0")
	})
	t.Run("custom model of another model", func(t *testing.T) {
		in := e.installer("acme-th1", "1.5.0", &sl, nil)
		mustRefuse(t, e, in, order("acme-th1", "9.0.0"), "signed for model beta-x, this device is a acme-th1")
	})
	if n := e.targetRequests(); n != 0 {
		t.Errorf("%d target requests, want none", n)
	}
}

func TestRefuseOtherModelOrder(t *testing.T) {
	e := newEnv(t)
	e.publish("beta-x", "2.0.0", "", []byte("beta firmware"))
	var sl sleeps
	in := e.installer("acme-th1", "1.5.0", &sl, nil)
	mustRefuse(t, e, in, order("beta-x", "2.0.0"), "the order is for model beta-x, this device is a acme-th1")
	if n := e.targetRequests(); n != 0 {
		t.Errorf("%d target requests, want none", n)
	}
}

func TestDownloadResumesAfterCut(t *testing.T) {
	e := newEnv(t)
	tf := e.publish("acme-th1", "1.5.0", "", fw150)
	name := storedName(tf, "sha256")
	cut := int64(len(fw150) / 3)
	var ranges []string
	e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, ".fw.bin") {
			return false
		}
		ranges = append(ranges, r.Header.Get("Range")+"|"+r.Header.Get("If-Range"))
		if len(ranges) > 1 {
			return false // serve the rest (http.ServeFile honours Range and If-Range)
		}
		fi, _ := os.Stat(filepath.Join(e.repoDir(), filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/tuf/"))))
		w.Header().Set("Last-Modified", fi.ModTime().UTC().Format(http.TimeFormat))
		w.Header().Set("Content-Length", strconv.Itoa(len(fw150)))
		w.Write(fw150[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops mid-file
	})
	var sl sleeps
	in := e.installer("acme-th1", "1.4.2", &sl, nil)
	var st statuses
	if err := in.Install(context.Background(), order("acme-th1", "1.5.0"), st.report); err != nil {
		t.Fatalf("%v (states %s)", err, st.states())
	}
	got, _ := os.ReadFile(e.installedPath())
	if !bytes.Equal(got, fw150) {
		t.Fatal("installed bytes differ from the firmware")
	}
	hits, served := e.hitsOf(name)
	if hits != 2 || len(ranges) != 2 || !strings.HasPrefix(ranges[1], "bytes="+strconv.FormatInt(cut, 10)+"-|") || strings.HasSuffix(ranges[1], "|") {
		t.Fatalf("requests %d, headers %q: want a second request with Range from %d and If-Range", hits, ranges, cut)
	}
	// Bytes served in all: the file once, not once and a third.
	if served != int64(len(fw150)) {
		t.Fatalf("served %d bytes for a %d-byte file: the resume restarted from zero", served, len(fw150))
	}
	if sl.count() != 1 {
		t.Fatalf("%d backoff waits, want 1", sl.count())
	}
}

func TestDownload404NotRetried(t *testing.T) {
	e := newEnv(t)
	tf := e.publish("acme-th1", "1.5.0", "", fw150)
	for _, h := range []string{"sha256", "sha512"} {
		os.Remove(filepath.Join(e.repoDir(), filepath.FromSlash(storedName(tf, h))))
	}
	var sl sleeps
	in := e.installer("acme-th1", "1.4.2", &sl, nil)
	mustRefuse(t, e, in, order("acme-th1", "1.5.0"), "404")
	if n := e.targetRequests(); n != 1 || sl.count() != 0 {
		t.Fatalf("%d requests, %d waits: a 404 must be asked once", n, sl.count())
	}
}

func TestDownload5xxRetriedBounded(t *testing.T) {
	e := newEnv(t)
	e.publish("acme-th1", "1.5.0", "", fw150)
	e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, ".fw.bin") {
			return false
		}
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
		return true
	})
	var sl sleeps
	in := e.installer("acme-th1", "1.4.2", &sl, nil) // Retry.Attempts 3
	mustRefuse(t, e, in, order("acme-th1", "1.5.0"), "after 3 attempts")
	if n := e.targetRequests(); n != 3 || sl.count() != 2 {
		t.Fatalf("%d requests, %d waits; want 3 and 2", n, sl.count())
	}
	for i, d := range sl.d {
		if lo, hi := time.Second<<i/2, time.Second<<i; d < lo || d > hi {
			t.Errorf("wait %d = %s, want in [%s, %s] (exponential, jittered)", i, d, lo, hi)
		}
	}
}

func TestDownload429RetryAfter(t *testing.T) {
	e := newEnv(t)
	e.publish("acme-th1", "1.5.0", "", fw150)
	n := 0
	e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, ".fw.bin") {
			return false
		}
		if n++; n == 1 {
			w.Header().Set("Retry-After", "7")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return true
		}
		return false
	})
	var sl sleeps
	in := e.installer("acme-th1", "1.4.2", &sl, nil)
	if err := in.Install(context.Background(), order("acme-th1", "1.5.0"), func(update.Status) {}); err != nil {
		t.Fatal(err)
	}
	if len(sl.d) != 1 || sl.d[0] != 7*time.Second {
		t.Fatalf("waits %v, want [7s] (Retry-After)", sl.d)
	}
	// A Retry-After beyond the budget ends the download.
	e2 := newEnv(t)
	e2.publish("acme-th1", "1.5.0", "", fw150)
	e2.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, ".fw.bin") {
			return false
		}
		w.Header().Set("Retry-After", "86400")
		http.Error(w, "come back tomorrow", http.StatusTooManyRequests)
		return true
	})
	in2 := e2.installer("acme-th1", "1.4.2", &sl, nil)
	mustRefuse(t, e2, in2, order("acme-th1", "1.5.0"), "more than the")
}

func TestInstallCommandFails(t *testing.T) {
	e := newEnv(t)
	e.publish("acme-th1", "1.5.0", "", fw150)
	var sl sleeps
	in := e.installer("acme-th1", "1.4.2", &sl, func(o *InstallerOptions) {
		p := filepath.Join(t.TempDir(), "fail.sh")
		os.WriteFile(p, []byte("#!/bin/sh\necho flash write error at block 7 >&2\nexit 3\n"), 0o755)
		o.InstallCmd = []string{p}
	})
	var st statuses
	err := in.Install(context.Background(), order("acme-th1", "1.5.0"), st.report)
	if err == nil || st.last().State != update.StateFailed || !strings.Contains(st.last().Reason, "exit status 3") || !strings.Contains(st.last().Reason, "flash write error at block 7") {
		t.Fatalf("%v: last %+v", err, st.last())
	}
	if in.Installed() != "1.4.2" {
		t.Fatalf("installed %s after a failed install", in.Installed())
	}
	t.Run("timeout", func(t *testing.T) {
		in := e.installer("acme-th1", "1.4.2", &sl, func(o *InstallerOptions) {
			p := filepath.Join(t.TempDir(), "hang.sh")
			os.WriteFile(p, []byte("#!/bin/sh\necho started\nexec sleep 600\n"), 0o755)
			o.InstallCmd, o.InstallTimeout = []string{p}, 200*time.Millisecond
		})
		var st statuses
		err := in.Install(context.Background(), order("acme-th1", "1.5.0"), st.report)
		if err == nil || !strings.Contains(st.last().Reason, "killed after 200ms") {
			t.Fatalf("%v: last %+v", err, st.last())
		}
	})
}

func TestLoadTrustedRoot(t *testing.T) {
	e := newEnv(t)
	file := filepath.Join(t.TempDir(), TUFRootFile)
	b, err := LoadTrustedRoot(context.Background(), file, e.srv.URL, e.httpClient(e.cert), discard())
	if err != nil || !bytes.Equal(b, e.root1) {
		t.Fatalf("first use: %v", err)
	}
	if kept, _ := os.ReadFile(file); !bytes.Equal(kept, e.root1) {
		t.Fatal("the fetched root was not kept")
	}
	// From now on the file is used, not the server.
	hits, _ := e.hitsOf("1.root.json")
	if _, err := LoadTrustedRoot(context.Background(), file, e.srv.URL, e.httpClient(e.cert), discard()); err != nil {
		t.Fatal(err)
	}
	if again, _ := e.hitsOf("1.root.json"); again != hits {
		t.Fatal("the root was fetched again")
	}
	// A server whose certificate is not from ca.pem is refused.
	other := newEnv(t)
	_, err = LoadTrustedRoot(context.Background(), filepath.Join(t.TempDir(), "r.json"), other.srv.URL, e.httpClient(e.cert), discard())
	if err == nil || !strings.Contains(err.Error(), "not signed by Ward's CA") {
		t.Fatalf("other CA: %v", err)
	}
	if errors.Is(err, ErrRefused) {
		t.Fatal("unexpected")
	}
}

// TestDownloadStallResumes: a server that stops sending mid-file is cut
// after the idle timeout and the download resumes where it stopped.
func TestDownloadStallResumes(t *testing.T) {
	e := newEnv(t)
	tf := e.publish("acme-th1", "1.5.0", "", fw150)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var served atomic.Bool
	e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, ".fw.bin") || served.Swap(true) {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(fw150)))
		w.Write(fw150[:1000])
		w.(http.Flusher).Flush()
		select { // stall until the client gives up (its context) or the test ends
		case <-r.Context().Done():
		case <-release:
		}
		return true
	})
	var sl sleeps
	in := e.installer("acme-th1", "1.4.2", &sl, func(o *InstallerOptions) { o.Retry.Idle = 300 * time.Millisecond })
	var st statuses
	if err := in.Install(context.Background(), order("acme-th1", "1.5.0"), st.report); err != nil {
		t.Fatalf("%v (states %s)", err, st.states())
	}
	if got, _ := os.ReadFile(e.installedPath()); !bytes.Equal(got, fw150) {
		t.Fatal("installed bytes differ")
	}
	if _, served := e.hitsOf(storedName(tf, "sha256")); served != int64(len(fw150)) {
		t.Fatalf("served %d bytes, want %d (resumed, not restarted)", served, len(fw150))
	}
}

// parts lists the partial downloads (*.part) in the agent's directory.
func (e *env) parts(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(e.dir, downloadsDir, "*"+partSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPartialDownloadRemovedOnFailure: a download that fails, however it
// fails, leaves no partial file to fill the device's storage: a refusal
// before any byte (the empty file), retries spent after bytes arrived, a
// hash mismatch, and the agent stopping mid-file.
func TestPartialDownloadRemovedOnFailure(t *testing.T) {
	cutThenFail := func(w http.ResponseWriter, n *atomic.Int32) {
		if n.Add(1) == 1 {
			w.Header().Set("Content-Length", strconv.Itoa(len(fw150)))
			w.Write(fw150[:len(fw150)/3])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}
	tests := []struct {
		name string
		// hook answers a firmware request; cancel stops the agent.
		hook func(w http.ResponseWriter, n *atomic.Int32, cancel context.CancelFunc)
		want string
	}{
		{"refused-404", func(w http.ResponseWriter, _ *atomic.Int32, _ context.CancelFunc) {
			http.NotFound(w, nil)
		}, "404"},
		{"retries-spent-after-a-cut", func(w http.ResponseWriter, n *atomic.Int32, _ context.CancelFunc) {
			cutThenFail(w, n)
		}, "after 3 attempts"},
		{"hash-mismatch", func(w http.ResponseWriter, _ *atomic.Int32, _ context.CancelFunc) {
			w.Write(fw160[:len(fw150)])
		}, "do not match the signed hash"},
		{"agent-stopped-mid-file", func(w http.ResponseWriter, _ *atomic.Int32, cancel context.CancelFunc) {
			w.Header().Set("Content-Length", strconv.Itoa(len(fw150)))
			w.Write(fw150[:len(fw150)/3])
			w.(http.Flusher).Flush()
			cancel()
			panic(http.ErrAbortHandler)
		}, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.publish("acme-th1", "1.5.0", "", fw150)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var n atomic.Int32
			var wroteBytes atomic.Bool
			e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, ".fw.bin") {
					return false
				}
				if len(e.parts(t)) == 1 {
					wroteBytes.Store(true) // the file the download writes exists
				}
				tt.hook(w, &n, cancel)
				return true
			})
			var sl sleeps
			in := e.installer("acme-th1", "1.4.2", &sl, nil)
			var st statuses
			err := in.Install(ctx, order("acme-th1", "1.5.0"), st.report)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("install: %v, want an error containing %q", err, tt.want)
			}
			if !wroteBytes.Load() {
				t.Fatal("no partial file existed during the download: the test checks nothing")
			}
			if p := e.parts(t); len(p) != 0 {
				t.Errorf("partial downloads left after %s: %v", tt.name, p)
			}
		})
	}
}

// TestStalePartialDownloadsRemovedAtStart: an agent that starts removes
// the partial downloads a previous run left (a crash, a power cut), and
// never a verified file or anything else in the directory.
func TestStalePartialDownloadsRemovedAtStart(t *testing.T) {
	e := newEnv(t)
	dl := filepath.Join(e.dir, downloadsDir)
	if err := os.MkdirAll(filepath.Join(dl, "kept.part.d"), 0o700); err != nil {
		t.Fatal(err)
	}
	stale := []string{strings.Repeat("a", 64) + partSuffix, strings.Repeat("b", 64) + partSuffix}
	kept := []string{strings.Repeat("c", 64) + ".fw.bin", "notes.txt", "kept.part.d"}
	for _, f := range append(stale, kept[:2]...) {
		if err := os.WriteFile(filepath.Join(dl, f), fw150[:100], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var sl sleeps
	e.installer("acme-th1", "1.4.2", &sl, nil)
	ents, err := os.ReadDir(dl)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, en := range ents {
		got = append(got, en.Name())
	}
	want := []string{kept[0], kept[2], kept[1]} // ReadDir's order: by name
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("downloads after start: %v, want %v (partial files removed, the rest kept)", got, want)
	}
	// Starting without a downloads directory is fine.
	e2 := newEnv(t)
	e2.installer("acme-th1", "1.4.2", &sl, nil)
}
