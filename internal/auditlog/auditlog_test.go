package auditlog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
)

type fixture struct {
	dir string
	db  *sqlite.DB
	raw *sql.DB // the same file, behind the store's back: the attacker
	a   *Anchor
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), now: time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)}
	path := filepath.Join(f.dir, "ward.db")
	var err error
	if f.db, err = sqlite.Open(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	if f.raw, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.raw.Close() })
	f.a = f.anchor(t)
	return f
}

func (f *fixture) anchor(t *testing.T) *Anchor {
	t.Helper()
	a, err := New(Options{Dir: f.dir, Store: f.db, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type appender interface {
	AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error)
}

func (f *fixture) append(t *testing.T, via appender, n int) {
	t.Helper()
	for i := range n {
		if _, err := via.AppendAudit(context.Background(), store.AuditEntry{Time: f.now, Actor: "token:0011223344556677", Action: "device.revoke",
			Target: fmt.Sprintf("d-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) exec(t *testing.T, stmt string) {
	t.Helper()
	if _, err := f.raw.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func (f *fixture) verify(t *testing.T) Report {
	t.Helper()
	rep, err := f.a.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestCheckpointEveryAppend: each append through the anchor writes a
// signed checkpoint of the new head, to the file (0600) and the log.
func TestCheckpointEveryAppend(t *testing.T) {
	f := newFixture(t)
	f.append(t, f.a, 3)
	c, err := f.a.Latest()
	if err != nil || c == nil || c.Seq != 3 {
		t.Fatalf("latest checkpoint %+v, %v; want seq 3", c, err)
	}
	if !ed25519.Verify(f.a.PublicKey(), c.SignedBytes(), c.Sig) {
		t.Error("the checkpoint's signature does not verify")
	}
	for _, name := range []string{KeyFile, CheckpointsFile} {
		st, err := os.Stat(filepath.Join(f.dir, name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", name, st, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(f.dir, CheckpointsFile))
	if n := bytes.Count(b, []byte("\n")); n != 3 {
		t.Errorf("%d checkpoint lines, want 3", n)
	}
	if rep := f.verify(t); !rep.OK || rep.Entries != 3 || rep.Checkpoint.Seq != 3 {
		t.Errorf("verify: %+v", rep)
	}
	// A restart loads the same key and the latest checkpoint.
	a2 := f.anchor(t)
	if a2.keyID != f.a.keyID || a2.last == nil || a2.last.Seq != 3 {
		t.Errorf("after restart: key %s (was %s), last %+v", a2.keyID, f.a.keyID, a2.last)
	}
}

// TestAttacks tampers with the database behind the store's back after
// the anchor signed the head; Verify catches each attack, and the anchor
// refuses to sign a checkpoint over the tampered log.
func TestAttacks(t *testing.T) {
	tests := []struct {
		name     string
		attack   string
		reappend int
		problem  string
	}{
		{"tail-deleted", "DELETE FROM audit_log WHERE seq > 6", 0, store.AuditTruncated},
		{"tail-deleted-then-appended", "DELETE FROM audit_log WHERE seq > 6", 2, store.AuditTruncated},
		{"tail-deleted-then-appended-past-the-checkpoint", "DELETE FROM audit_log WHERE seq > 6", 6, store.AuditAnchorMismatch},
		{"all-deleted", "DELETE FROM audit_log", 0, store.AuditTruncated},
		{"middle-deleted", "DELETE FROM audit_log WHERE seq = 5", 0, store.AuditGap},
		{"entry-altered", "UPDATE audit_log SET target = 'd-99' WHERE seq = 2", 0, store.AuditAltered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.append(t, f.a, 10)
			f.exec(t, tt.attack)
			// Appends through the store alone (another node) or through the anchor.
			f.append(t, f.db, tt.reappend)
			err := f.a.Checkpoint(context.Background())
			rep := f.verify(t)
			if rep.OK || rep.Problem != tt.problem {
				t.Errorf("verify after %q: %+v, want %s", tt.attack, rep.AuditReport, tt.problem)
			}
			if rep.Checkpoint == nil || rep.Checkpoint.Seq != 10 {
				t.Errorf("latest checkpoint %+v: a checkpoint over the tampered log was signed", rep.Checkpoint)
			}
			if tt.reappend > 4 && !errors.Is(err, ErrTampered) {
				t.Errorf("Checkpoint over a rewritten log: %v, want ErrTampered", err)
			}
		})
	}
}

// TestOtherNodesAppendsAreAnchored: entries appended without the anchor
// (by another cluster node) are covered by the next Checkpoint.
func TestOtherNodesAppendsAreAnchored(t *testing.T) {
	f := newFixture(t)
	f.append(t, f.a, 2)
	f.append(t, f.db, 3)
	if err := f.a.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t); !rep.OK || rep.Checkpoint.Seq != 5 {
		t.Fatalf("verify: %+v", rep)
	}
	f.exec(t, "DELETE FROM audit_log WHERE seq > 3")
	if rep := f.verify(t); rep.OK || rep.Problem != store.AuditTruncated {
		t.Errorf("tail of another node's entries deleted: %+v", rep.AuditReport)
	}
}

// TestUnanchoredLog: entries without any checkpoint (the file deleted) do
// not verify.
func TestUnanchoredLog(t *testing.T) {
	f := newFixture(t)
	if rep := f.verify(t); !rep.OK {
		t.Errorf("empty log: %+v", rep)
	}
	f.append(t, f.a, 2)
	os.Remove(filepath.Join(f.dir, CheckpointsFile))
	if rep := f.verify(t); rep.OK || rep.Problem != ProblemUnanchored {
		t.Errorf("checkpoints deleted: %+v", rep)
	}
}

// TestForgedCheckpoint: a checkpoint not signed by the anchor key (written
// to move the anchor back after a truncation) is refused at start and by
// Verify.
func TestForgedCheckpoint(t *testing.T) {
	f := newFixture(t)
	f.append(t, f.a, 5)
	f.exec(t, "DELETE FROM audit_log WHERE seq > 2")
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	es, _ := f.db.ListAudit(context.Background(), 1)
	forged := Checkpoint{Seq: 2, Hash: es[0].Hash, Time: f.now, Key: f.a.keyID}
	forged.Sig = ed25519.Sign(other, forged.SignedBytes())
	line, _ := json.Marshal(forged)
	if err := appendLine(filepath.Join(f.dir, CheckpointsFile), line); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t); rep.OK || rep.Problem != ProblemCheckpoint || !strings.Contains(rep.Message, "does not verify") {
		t.Errorf("verify with a forged checkpoint: %+v", rep)
	}
	if _, err := New(Options{Dir: f.dir, Store: f.db}); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("New with a forged checkpoint: %v", err)
	}
}

// TestKeyFileMode: an anchor key that group or others can read is refused
// with the chmod fix.
func TestKeyFileMode(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(f.dir, KeyFile)
	os.Chmod(path, 0o644)
	if _, err := New(Options{Dir: f.dir, Store: f.db}); err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("key mode 0644: %v", err)
	}
}

func TestLastCheckpoint(t *testing.T) {
	sig := strings.Repeat("A", 86) + "=="
	good := `{"seq":4,"hash":"ab","time":"2026-12-06T01:00:00Z","key":"k","sig":"` + sig + `"}`
	tests := []struct {
		name    string
		in      string
		seq     int64
		line    int
		wantErr bool
	}{
		{"empty", "", 0, 0, false},
		{"one", good + "\n", 4, 1, false},
		{"partial-last-line-ignored", good + "\n" + `{"seq":5,"ha`, 4, 1, false},
		{"blank-lines", "\n" + good + "\n\n", 4, 2, false},
		{"garbage", "not json\n", 0, 1, true},
		{"short-signature", `{"seq":4,"sig":"AAAA"}` + "\n", 0, 1, true},
		{"negative-seq", `{"seq":-1,"sig":"` + sig + `"}` + "\n", 0, 1, true},
		{"too-long", strings.Repeat("x", MaxLineBytes+10) + "\n", 0, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, n, err := LastCheckpoint(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if n != tt.line {
				t.Errorf("line %d, want %d", n, tt.line)
			}
			if err == nil && tt.seq > 0 && (c == nil || c.Seq != tt.seq) {
				t.Errorf("checkpoint %+v, want seq %d", c, tt.seq)
			}
		})
	}
}

func FuzzLastCheckpoint(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.jsonl")
	for _, p := range seeds {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _, err := LastCheckpoint(bytes.NewReader(b))
		if err != nil || c == nil {
			return
		}
		line, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, _, err := LastCheckpoint(bytes.NewReader(append(line, '\n')))
		if err != nil || c2.Seq != c.Seq || c2.Hash != c.Hash || !bytes.Equal(c2.Sig, c.Sig) || !c2.Time.Equal(c.Time) {
			t.Fatalf("round trip: %+v -> %+v, %v", c, c2, err)
		}
	})
}

// TestKeyEncryptedWithPassphrase: with the CA passphrase the anchor key is
// encrypted at rest; without it (or with another) it does not load.
func TestKeyEncryptedWithPassphrase(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "ward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, err := New(Options{Dir: dir, Store: db, Passphrase: []byte("correct horse")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	if bytes.Contains(b, []byte("BEGIN PRIVATE KEY")) || !bytes.Contains(b, []byte("ENCRYPTED")) {
		t.Errorf("anchor key written in clear with a passphrase:\n%s", b)
	}
	if a2, err := New(Options{Dir: dir, Store: db, Passphrase: []byte("correct horse")}); err != nil || a2.keyID != a.keyID {
		t.Errorf("reload with the passphrase: %v", err)
	}
	for _, pass := range []string{"", "wrong"} {
		if _, err := New(Options{Dir: dir, Store: db, Passphrase: []byte(pass)}); err == nil || !strings.Contains(err.Error(), KeyFile) {
			t.Errorf("passphrase %q: %v, want an error naming the key file", pass, err)
		}
	}
}
