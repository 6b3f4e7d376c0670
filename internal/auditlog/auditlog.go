// Package auditlog anchors the store's hash-chained audit log outside the
// database, so that deleting its tail (or rewriting it whole) is detected,
// not just changing an entry in the middle.
//
// The chain alone (store.AuditHash) proves that the entries one reads
// follow each other; it cannot prove that none were deleted after the last
// one. An Anchor therefore signs checkpoints (seq, hash, time) of the
// chain's head with an Ed25519 key kept in the data directory, never in the
// database: after every append through it and at an interval (other
// cluster nodes append too). Each checkpoint is appended to
// DATA_DIR/audit-anchors.jsonl and logged as an Info line ("audit
// checkpoint"), so that a log sink keeps a copy off the machine.
//
// A new checkpoint is written only if the previous one still holds (its
// entry is still in the store with its hash); otherwise the anchor logs an
// Error and keeps the old checkpoint, so that the latest checkpoint
// transitively pins every earlier one. Verify walks the whole chain from
// entry 1 to the head (store.VerifyAuditChain) against the latest
// checkpoint.
//
// What it does not cover: an attacker who can write both the database and
// the data directory (the key and the checkpoints) can rewrite both; the
// copy in the log sink is the answer to that. The key is mode 0600, and
// encrypted at rest with the CA passphrase when one is configured.
package auditlog

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

// Files in the data directory.
const (
	KeyFile         = "audit-anchor.key"
	CheckpointsFile = "audit-anchors.jsonl"
)

// Store is the audit log an Anchor appends to and reads.
type Store interface {
	AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error)
	// ListAudit with limit 1 returns the head.
	ListAudit(ctx context.Context, limit int) ([]store.AuditEntry, error)
	ListAuditFrom(ctx context.Context, from int64, limit int) ([]store.AuditEntry, error)
}

// Options configure an Anchor. Dir and Store are required.
type Options struct {
	Dir   string // the data directory
	Store Store
	// Passphrase, when set (the CA key passphrase), encrypts the anchor
	// key at rest as the CA keys are.
	Passphrase []byte
	Every      time.Duration // checkpoint interval of Run (0: one minute)
	Logger     *slog.Logger
	Now        func() time.Time
}

// Checkpoint is a signed record that the audit log's entry Seq had Hash
// at Time. Sig is the Ed25519 signature of SignedBytes by the key whose
// ID is Key.
type Checkpoint struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
	Key  string    `json:"key"`
	Sig  []byte    `json:"sig"`
}

// SignedBytes is what a checkpoint's signature covers.
func (c Checkpoint) SignedBytes() []byte {
	return []byte("ward-audit-checkpoint-v1\n" + strconv.FormatInt(c.Seq, 10) + "\n" + c.Hash + "\n" + c.Time.UTC().Format(time.RFC3339Nano) + "\n")
}

// Anchor signs checkpoints of the audit log and verifies the log against
// them. It is safe for concurrent use.
type Anchor struct {
	opts  Options
	log   *slog.Logger
	key   ed25519.PrivateKey
	keyID string
	path  string // CheckpointsFile

	mu   sync.Mutex  // serialises checkpoints; guards last
	last *Checkpoint // the latest checkpoint written; nil: none
}

// New loads the anchor key (creating it, mode 0600, on first start) and
// the latest checkpoint. A key or checkpoint file that group or others
// can read, or a latest checkpoint whose signature does not verify, is an
// error: the server must not start on an anchor it cannot trust.
func New(opts Options) (*Anchor, error) {
	if opts.Dir == "" || opts.Store == nil {
		return nil, errors.New("auditlog: Options.Dir and Options.Store are required")
	}
	if opts.Every <= 0 {
		opts.Every = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Anchor{opts: opts, log: opts.Logger.With("component", "auditlog"), path: filepath.Join(opts.Dir, CheckpointsFile)}
	key, err := loadKey(filepath.Join(opts.Dir, KeyFile), opts.Passphrase)
	if err != nil {
		return nil, err
	}
	a.key = key
	a.keyID = KeyID(key.Public().(ed25519.PublicKey))
	if a.last, err = a.Latest(); err != nil {
		return nil, err
	}
	return a, nil
}

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// PublicKey is the key checkpoints are signed with.
func (a *Anchor) PublicKey() ed25519.PublicKey { return a.key.Public().(ed25519.PublicKey) }

func loadKey(path string, pass []byte) (ed25519.PrivateKey, error) {
	data, err := pki.ReadSecretFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate audit anchor key: %w", err)
		}
		pemKey, err := pki.MarshalPrivateKey(key, pass)
		if err != nil {
			return nil, fmt.Errorf("encode audit anchor key: %w", err)
		}
		if err := pki.WriteSecretFile(path, pemKey); err != nil {
			return nil, fmt.Errorf("write audit anchor key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit anchor key: %w", err)
	}
	k, err := pki.ParsePrivateKey(data, pass)
	if err != nil {
		return nil, fmt.Errorf("audit anchor key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("audit anchor key %s: not an Ed25519 key", path)
	}
	return key, nil
}

// AppendAudit appends an entry to the store and checkpoints it.
func (a *Anchor) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	e, err := a.opts.Store.AppendAudit(ctx, e)
	if err != nil {
		return e, err
	}
	if err := a.checkpoint(ctx, e); err != nil {
		// The entry is stored; the next checkpoint (Run) covers it.
		a.log.Error("audit checkpoint", "seq", e.Seq, "err", err)
	}
	return e, nil
}

// Checkpoint signs a checkpoint of the log's current head, if it moved
// since the last one.
func (a *Anchor) Checkpoint(ctx context.Context) error {
	head, err := a.opts.Store.ListAudit(ctx, 1)
	if err != nil {
		return err
	}
	if len(head) == 0 {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.last != nil && a.last.Seq > 0 {
			return a.tampered(fmt.Errorf("the audit log is empty but checkpoint %d was signed at %s: it was deleted", a.last.Seq, a.last.Time.Format(time.RFC3339)))
		}
		return nil
	}
	return a.checkpoint(ctx, head[0])
}

// ErrTampered is returned (and logged at Error) when the log no longer
// holds the entry of the last checkpoint: no new checkpoint is written.
var ErrTampered = errors.New("audit log tampered with")

func (a *Anchor) tampered(err error) error {
	err = fmt.Errorf("%w: %w; run ward audit log --verify", ErrTampered, err)
	a.log.Error("audit log tampered with: checkpoints stopped", "err", err)
	return err
}

// checkpoint writes a checkpoint of head if it is past the last one and
// the last one still holds.
func (a *Anchor) checkpoint(ctx context.Context, head store.AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last != nil {
		if head.Seq <= a.last.Seq {
			if head.Seq == a.last.Seq && head.Hash != a.last.Hash {
				return a.tampered(fmt.Errorf("entry %d differs from its signed checkpoint", head.Seq))
			}
			return nil // already covered (a concurrent append checkpointed a later entry)
		}
		if a.last.Seq > 0 {
			es, err := a.opts.Store.ListAuditFrom(ctx, a.last.Seq, 1)
			if err != nil {
				return err
			}
			if len(es) == 0 || es[0].Seq != a.last.Seq || es[0].Hash != a.last.Hash {
				return a.tampered(fmt.Errorf("entry %d of the last signed checkpoint is gone or changed", a.last.Seq))
			}
		}
	}
	c := Checkpoint{Seq: head.Seq, Hash: head.Hash, Time: a.opts.Now().UTC(), Key: a.keyID}
	c.Sig = ed25519.Sign(a.key, c.SignedBytes())
	line, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := appendLine(a.path, line); err != nil {
		return fmt.Errorf("write audit checkpoint: %w", err)
	}
	a.last = &c
	a.log.Info("audit checkpoint", "seq", c.Seq, "hash", c.Hash, "time", c.Time, "key", c.Key, "sig", hex.EncodeToString(c.Sig))
	return nil
}

func appendLine(path string, line []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// MaxLineBytes bounds a line of the checkpoints file.
const MaxLineBytes = 4096

// Latest reads the latest checkpoint from the checkpoints file and checks
// its signature; nil when there is none yet. A trailing line without its
// newline (a write cut short by a crash) is ignored.
func (a *Anchor) Latest() (*Checkpoint, error) {
	if err := pki.CheckSecretFileMode(a.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("audit checkpoints: %w", err)
	}
	f, err := os.Open(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit checkpoints: %w", err)
	}
	defer f.Close()
	c, n, err := LastCheckpoint(f)
	if err != nil {
		return nil, fmt.Errorf("%s line %d: %w", a.path, n, err)
	}
	if c == nil {
		return nil, nil
	}
	if c.Key != a.keyID || !ed25519.Verify(a.PublicKey(), c.SignedBytes(), c.Sig) {
		return nil, fmt.Errorf("%s line %d: the checkpoint's signature does not verify with %s (key %s): the file or the key was replaced; keep both for the investigation and move them aside to start a new anchor",
			a.path, n, filepath.Join(a.opts.Dir, KeyFile), a.keyID)
	}
	return c, nil
}

// LastCheckpoint parses a checkpoints file and returns its last complete
// line's checkpoint (nil if none) and that line's number. It does not
// check signatures.
func LastCheckpoint(r io.Reader) (*Checkpoint, int, error) {
	br := bufio.NewReaderSize(r, MaxLineBytes)
	var last []byte
	n, lastN := 0, 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, n + 1, fmt.Errorf("line longer than %d bytes", MaxLineBytes)
		}
		if err == io.EOF {
			break // a partial last line (no newline) is ignored
		}
		if err != nil {
			return nil, n, err
		}
		n++
		if len(line) > 1 {
			last, lastN = append(last[:0], line...), n
		}
	}
	if last == nil {
		return nil, 0, nil
	}
	var c Checkpoint
	if err := json.Unmarshal(last, &c); err != nil {
		return nil, lastN, fmt.Errorf("not a checkpoint: %w", err)
	}
	if c.Seq < 0 || len(c.Sig) != ed25519.SignatureSize {
		return nil, lastN, errors.New("not a checkpoint: bad seq or signature size")
	}
	return &c, lastN, nil
}

// Report is the outcome of Verify: the chain's report, and the latest
// signed checkpoint it was held to.
type Report struct {
	store.AuditReport
	Checkpoint *Checkpoint `json:"checkpoint"` // nil: none yet
	// KeyID names the anchor key (its public half's fingerprint).
	KeyID string `json:"key_id"`
}

// Problems Verify adds to store.VerifyAuditChain's.
const (
	ProblemUnanchored = "unanchored" // entries exist but no checkpoint does
	ProblemCheckpoint = "checkpoint" // the checkpoints file cannot be trusted
)

// Verify checks the whole audit log from entry 1 to the head against the
// latest signed checkpoint.
func (a *Anchor) Verify(ctx context.Context) (Report, error) {
	rep := Report{KeyID: a.keyID}
	c, err := a.Latest()
	if err != nil {
		rep.Problem, rep.Message = ProblemCheckpoint, err.Error()
		return rep, nil
	}
	rep.Checkpoint = c
	var anchor *store.AuditAnchor
	if c != nil {
		anchor = &store.AuditAnchor{Seq: c.Seq, Hash: c.Hash}
	}
	if rep.AuditReport, err = store.VerifyAuditChain(ctx, a.opts.Store, anchor, 1000); err != nil {
		return rep, err
	}
	if rep.OK && c == nil && rep.Entries > 0 {
		rep.OK = false
		rep.Problem, rep.Message = ProblemUnanchored, fmt.Sprintf("no signed checkpoint in %s: the log's tail cannot be vouched for", a.path)
	}
	return rep, nil
}

// Run checkpoints the head at start and every Options.Every until ctx is
// done, so that entries other cluster nodes append are anchored here too.
func (a *Anchor) Run(ctx context.Context) error {
	t := time.NewTicker(a.opts.Every)
	defer t.Stop()
	for {
		if err := a.Checkpoint(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrTampered) {
			a.log.Error("audit checkpoint", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
