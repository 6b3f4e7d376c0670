package update

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/wardproject/ward/internal/pki"
)

// Expiries are how long each role's metadata stays valid after it is signed.
// A zero field takes its default from DefaultExpiries.
type Expiries struct {
	Root       time.Duration
	Targets    time.Duration
	Snapshot   time.Duration
	Timestamp  time.Duration
	Delegation time.Duration // models/<model>
}

// DefaultExpiries: root a year (re-signed offline at each rotation), targets
// and delegations 90 days, snapshot 7 days, timestamp one day (the online
// keys re-sign these two: ward update resign).
var DefaultExpiries = Expiries{
	Root:       365 * 24 * time.Hour,
	Targets:    90 * 24 * time.Hour,
	Snapshot:   7 * 24 * time.Hour,
	Timestamp:  24 * time.Hour,
	Delegation: 90 * 24 * time.Hour,
}

// Options configure a Repository. Dir and Keys are required.
type Options struct {
	Dir      string   // the metadata directory (the layout in the package doc)
	Storage  Storage  // nil: DirStorage at Dir/targets
	Keys     *Keyring // the private keys this process holds
	Expiries Expiries // zero fields: DefaultExpiries
	// Offline marks a process without the online (snapshot, timestamp)
	// keys: changes to root, targets and delegations are written and the
	// server re-signs snapshot and timestamp later (ward update resign).
	Offline bool
	Now     func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: discard
}

// Repository is a TUF repository in a directory. Its methods are safe for
// concurrent use, and across processes: each write holds an flock(2) on
// the directory's lock file and starts from the state on disk.
type Repository struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	root      *metadata.Metadata[metadata.RootType]
	targets   *metadata.Metadata[metadata.TargetsType]
	delegated map[string]*metadata.Metadata[metadata.TargetsType]
	snapshotV int64
	timestV   int64
}

// Open loads the repository in opts.Dir, verifying root (against its own
// threshold and the previous root's), targets and each delegated role
// (against their delegators, and that each delegated target lies in the
// role's paths). A directory without root.json opens empty, for Init.
func Open(opts Options) (*Repository, error) {
	if opts.Dir == "" || opts.Keys == nil {
		return nil, errors.New("update: Options.Dir and Options.Keys are required")
	}
	e := &opts.Expiries
	d := DefaultExpiries
	for _, p := range []struct{ v, d *time.Duration }{{&e.Root, &d.Root}, {&e.Targets, &d.Targets}, {&e.Snapshot, &d.Snapshot}, {&e.Timestamp, &d.Timestamp}, {&e.Delegation, &d.Delegation}} {
		if *p.v <= 0 {
			*p.v = *p.d
		}
	}
	if opts.Storage == nil {
		opts.Storage = DirStorage{Dir: filepath.Join(opts.Dir, targetsDir)}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Repository{opts: opts, log: opts.Logger.With("component", "update"), delegated: map[string]*metadata.Metadata[metadata.TargetsType]{}}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// Initialized reports whether the repository has a root.
func (r *Repository) Initialized() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.root != nil
}

// Root returns a copy of the current root metadata, or nil.
func (r *Repository) Root() *metadata.Metadata[metadata.RootType] {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return nil
	}
	c, _ := clone(r.root)
	return c
}

// Keys returns the repository's keyring (new keys it generates go to its
// directory).
func (r *Repository) Keys() *Keyring { return r.opts.Keys }

// RoleKeys are the public keys and threshold of one role.
type RoleKeys struct {
	Keys      []*metadata.Key
	Threshold int // 0: 1
}

// Init creates the repository: root version 1 (consistent snapshots on)
// listing roles' keys, an empty targets version 1 and, unless the
// repository is Offline, snapshot and timestamp. Run on a repository whose
// root was made offline (roles nil), it writes what is missing: targets if
// absent, then snapshot and timestamp.
func (r *Repository) Init(ctx context.Context, roles map[string]RoleKeys) error {
	return r.mutate(func() error { return r.init(roles) })
}

func (r *Repository) init(roles map[string]RoleKeys) error {
	if r.root != nil && roles != nil {
		return ErrExists
	}
	now := r.opts.Now()
	if r.root == nil {
		if roles == nil {
			return ErrNotInitialized
		}
		root := metadata.Root(r.expiry(now, r.opts.Expiries.Root))
		for _, name := range metadata.TOP_LEVEL_ROLE_NAMES {
			rk := roles[name]
			if len(rk.Keys) == 0 {
				return fmt.Errorf("init TUF repository: no %s key", name)
			}
			for _, k := range rk.Keys {
				if err := root.Signed.AddKey(k, name); err != nil {
					return fmt.Errorf("init TUF repository: add %s key: %w", name, err)
				}
			}
			root.Signed.Roles[name].Threshold = max(rk.Threshold, 1)
			if root.Signed.Roles[name].Threshold > len(root.Signed.Roles[name].KeyIDs) {
				return fmt.Errorf("init TUF repository: %s threshold %d exceeds its %d keys", name, rk.Threshold, len(rk.Keys))
			}
		}
		if err := r.writeRoot(root, nil); err != nil {
			return err
		}
		r.root = root
		r.log.Info("TUF root created", "version", 1)
	}
	if r.targets == nil {
		t := metadata.Targets(r.expiry(now, r.opts.Expiries.Targets))
		if err := r.signTop(metadata.TARGETS, t); err != nil {
			return err
		}
		if err := r.writeMeta(versionedName(metadata.TARGETS, 1), t); err != nil {
			return err
		}
		r.targets = t
	}
	if r.opts.Offline || r.timestV > 0 {
		return nil
	}
	return r.resignOnline()
}

// Resign re-signs snapshot and timestamp with fresh versions and expiries,
// taking in the newest targets and delegated metadata in the directory
// (for example written offline). The server runs it before the timestamp
// expires.
func (r *Repository) Resign(ctx context.Context) error {
	return r.mutate(func() error {
		if r.root == nil {
			return ErrNotInitialized
		}
		return r.resignOnline()
	})
}

// Target describes one firmware file to add.
type Target struct {
	Custom        // model, version, min_version, notes
	File   string // the file name in the target path <model>/<version>/<file>
}

// AddTarget stores content (streamed twice: once to hash, once to store)
// and adds or replaces the target <model>/<version>/<file> in the model's
// delegated role models/<model>, with its length, sha256, sha512 and custom
// fields, then re-signs snapshot and timestamp. A model without a
// delegation gets one with a new key when this process holds the targets
// key; otherwise the error names the command to run offline.
func (r *Repository) AddTarget(ctx context.Context, t Target, content io.ReadSeeker) (*metadata.TargetFiles, error) {
	if err := t.Custom.Check(); err != nil {
		return nil, fmt.Errorf("add target: %w", err)
	}
	path, err := TargetPath(t.Model, t.Version, t.File)
	if err != nil {
		return nil, fmt.Errorf("add target: %w", err)
	}
	var tf *metadata.TargetFiles
	err = r.mutate(func() (err error) {
		tf, err = r.addTarget(ctx, t, path, content)
		return err
	})
	return tf, err
}

func (r *Repository) addTarget(ctx context.Context, t Target, path string, content io.ReadSeeker) (*metadata.TargetFiles, error) {
	if r.root == nil {
		return nil, ErrNotInitialized
	}
	role := ModelRole(t.Model)
	newDelegation := r.delegation(role) == nil
	if newDelegation {
		if err := r.canSign(metadata.TARGETS); err != nil {
			return nil, fmt.Errorf("add target %s: model %s has no delegation yet: %w", path, t.Model, err)
		}
	} else if err := r.canSign(role); err != nil {
		return nil, fmt.Errorf("add target %s: %w", path, err)
	}

	// Hash, then store while hashing again: a file that changes between
	// the two reads is refused instead of published under wrong hashes.
	// Nothing is written before the first read completes.
	sum, err := hashAll(ctx, content)
	if err != nil {
		return nil, fmt.Errorf("add target %s: read content: %w", path, err)
	}
	if _, err := content.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("add target %s: %w", path, err)
	}
	names, err := storedNames(path, sum.hex256(), sum.hex512())
	if err != nil {
		return nil, err
	}
	again := newHashes()
	if err := r.opts.Storage.Put(ctx, names, io.TeeReader(content, again)); err != nil {
		return nil, err
	}
	// Until the model's metadata names the target, a failure removes the
	// stored bytes again (when the storage can), so that nothing
	// half-published stays behind.
	stored := true
	defer func() {
		if stored {
			if rm, ok := r.opts.Storage.(interface{ Remove(names []string) error }); ok {
				if err := rm.Remove(names); err != nil {
					r.log.Warn("remove the target of a failed publish", "target", path, "err", err)
				}
			}
		}
	}()
	if again.sum() != sum.sum() {
		return nil, fmt.Errorf("add target %s: the content changed while it was stored; publish it again", path)
	}
	if newDelegation {
		k, err := r.opts.Keys.Generate(role)
		if err != nil {
			return nil, err
		}
		if err := r.delegate(t.Model, []*metadata.Key{k}, 1); err != nil {
			return nil, err
		}
	}

	custom, err := json.Marshal(t.Custom)
	if err != nil {
		return nil, err
	}
	raw := json.RawMessage(custom)
	tf := metadata.TargetFile()
	tf.Path = path
	tf.Length = sum.n
	tf.Hashes = metadata.Hashes{"sha256": sum.s256.Sum(nil), "sha512": sum.s512.Sum(nil)}
	tf.Custom = &raw

	d, err := r.nextDelegated(role)
	if err != nil {
		return nil, err
	}
	d.Signed.Targets[path] = tf
	if err := r.writeDelegated(role, d); err != nil {
		return nil, err
	}
	stored = false // the metadata names it now: the next resign serves it
	r.log.Info("firmware target added", "target", path, "role", role, "length", tf.Length)
	if err := r.maybeResignOnline(); err != nil {
		return nil, err
	}
	return tf, nil
}

// Targets returns the firmware targets of every delegated role, by path.
func (r *Repository) Targets() map[string]*metadata.TargetFiles {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]*metadata.TargetFiles{}
	for _, d := range r.delegated {
		for p, tf := range d.Signed.Targets {
			out[p] = tf
		}
	}
	return out
}

// Rotate replaces role's keys with keys and threshold. For a top-level
// role it writes root N+1 signed by the threshold of root N's root keys
// and of root N+1's, then re-signs the rotated role under its new keys;
// for models/<model> it rewrites the delegation (targets key) and re-signs
// the delegated metadata. Snapshot and timestamp are re-signed last.
func (r *Repository) Rotate(ctx context.Context, role string, keys []*metadata.Key, threshold int) error {
	if err := CheckRole(role); err != nil {
		return err
	}
	if len(keys) == 0 {
		return fmt.Errorf("rotate %s: no new key", role)
	}
	threshold = max(threshold, 1)
	if threshold > len(keys) {
		return fmt.Errorf("rotate %s: threshold %d exceeds the %d new keys", role, threshold, len(keys))
	}
	return r.mutate(func() error { return r.rotate(role, keys, threshold) })
}

func (r *Repository) rotate(role string, keys []*metadata.Key, threshold int) error {
	if r.root == nil {
		return ErrNotInitialized
	}
	if m, ok := cutModel(role); ok {
		if err := r.delegate(m, keys, threshold); err != nil {
			return err
		}
		return r.maybeResignOnline()
	}
	next, err := clone(r.root)
	if err != nil {
		return err
	}
	next.Signed.Version++
	next.Signed.Expires = r.expiry(r.opts.Now(), r.opts.Expiries.Root)
	for _, id := range slices.Clone(next.Signed.Roles[role].KeyIDs) {
		if err := next.Signed.RevokeKey(id, role); err != nil {
			return fmt.Errorf("rotate %s: %w", role, err)
		}
	}
	for _, k := range keys {
		if err := next.Signed.AddKey(k, role); err != nil {
			return fmt.Errorf("rotate %s: %w", role, err)
		}
	}
	next.Signed.Roles[role].Threshold = threshold
	if err := r.writeRoot(next, r.root); err != nil {
		return err
	}
	r.root = next
	r.log.Info("TUF keys rotated", "role", role, "root_version", next.Signed.Version)
	if role == metadata.TARGETS {
		t, err := clone(r.targets)
		if err != nil {
			return err
		}
		if err := r.writeTargets(t); err != nil {
			return err
		}
	}
	return r.maybeResignOnline()
}

// --- internals (r.mu held) ---

func (r *Repository) expiry(now time.Time, d time.Duration) time.Time {
	return now.Add(d).UTC().Truncate(time.Second)
}

func cutModel(role string) (string, bool) {
	if len(role) > len(modelsPrefix) && role[:len(modelsPrefix)] == modelsPrefix {
		return role[len(modelsPrefix):], true
	}
	return "", false
}

func (r *Repository) delegation(role string) *metadata.DelegatedRole {
	if r.targets == nil || r.targets.Signed.Delegations == nil {
		return nil
	}
	for i := range r.targets.Signed.Delegations.Roles {
		if d := &r.targets.Signed.Delegations.Roles[i]; d.Name == role {
			return d
		}
	}
	return nil
}

// roleKeys returns the key IDs and threshold that role's metadata needs.
func (r *Repository) roleKeys(role string) ([]string, int, error) {
	if _, ok := cutModel(role); ok {
		d := r.delegation(role)
		if d == nil {
			return nil, 0, fmt.Errorf("no delegation %s in targets metadata", role)
		}
		return d.KeyIDs, d.Threshold, nil
	}
	rr, ok := r.root.Signed.Roles[role]
	if !ok {
		return nil, 0, fmt.Errorf("root has no role %s", role)
	}
	return rr.KeyIDs, rr.Threshold, nil
}

// canSign checks that the keyring holds role's threshold.
func (r *Repository) canSign(role string) error {
	ids, th, err := r.roleKeys(role)
	if err != nil {
		return err
	}
	if n := len(r.opts.Keys.signersFor(ids)); n < th {
		return &MissingKeyError{Role: role, Have: n, Need: th}
	}
	return nil
}

// sign replaces m's signatures with those of the held keys among ids and
// fails unless they reach threshold.
func sign[T metadata.Roles](kr *Keyring, role string, m *metadata.Metadata[T], ids []string, threshold int) error {
	signers := kr.signersFor(ids)
	if len(signers) < threshold {
		return &MissingKeyError{Role: role, Have: len(signers), Need: threshold}
	}
	m.ClearSignatures()
	for _, s := range signers {
		if _, err := m.Sign(s); err != nil {
			return fmt.Errorf("sign %s metadata: %w", role, err)
		}
	}
	return nil
}

func (r *Repository) signTop(role string, m any) error {
	ids, th, err := r.roleKeys(role)
	if err != nil {
		return err
	}
	switch m := m.(type) {
	case *metadata.Metadata[metadata.TargetsType]:
		err = sign(r.opts.Keys, role, m, ids, th)
	case *metadata.Metadata[metadata.SnapshotType]:
		err = sign(r.opts.Keys, role, m, ids, th)
	case *metadata.Metadata[metadata.TimestampType]:
		err = sign(r.opts.Keys, role, m, ids, th)
	}
	if err != nil {
		return err
	}
	if err := r.root.VerifyDelegate(role, m); err != nil {
		return fmt.Errorf("verify new %s metadata: %w", role, err)
	}
	return nil
}

// writeRoot signs next with the held keys of next's root role and, for a
// rotation, prev's; both thresholds must verify (go-tuf's check) before
// <N>.root.json and root.json are written.
func (r *Repository) writeRoot(next, prev *metadata.Metadata[metadata.RootType]) error {
	ids := slices.Clone(next.Signed.Roles[metadata.ROOT].KeyIDs)
	need := next.Signed.Roles[metadata.ROOT].Threshold
	if prev != nil {
		ids = append(ids, prev.Signed.Roles[metadata.ROOT].KeyIDs...)
	}
	if len(r.opts.Keys.signersFor(ids)) == 0 {
		return &MissingKeyError{Role: metadata.ROOT, Need: need}
	}
	if err := sign(r.opts.Keys, metadata.ROOT, next, ids, 1); err != nil {
		return err
	}
	if err := next.VerifyDelegate(metadata.ROOT, next); err != nil {
		return &MissingKeyError{Role: metadata.ROOT, Have: len(r.opts.Keys.signersFor(next.Signed.Roles[metadata.ROOT].KeyIDs)), Need: need}
	}
	if prev != nil {
		if err := prev.VerifyDelegate(metadata.ROOT, next); err != nil {
			pr := prev.Signed.Roles[metadata.ROOT]
			return fmt.Errorf("root version %d must also be signed by root version %d's keys: %w",
				next.Signed.Version, prev.Signed.Version, &MissingKeyError{Role: metadata.ROOT, Have: len(r.opts.Keys.signersFor(pr.KeyIDs)), Need: pr.Threshold})
		}
	}
	if err := r.writeMeta(versionedName(metadata.ROOT, next.Signed.Version), next); err != nil {
		return err
	}
	return r.writeMeta(rootFile, next)
}

// writeTargets bumps t's version and expiry, signs and writes it.
func (r *Repository) writeTargets(t *metadata.Metadata[metadata.TargetsType]) error {
	t.Signed.Version = r.targets.Signed.Version + 1
	t.Signed.Expires = r.expiry(r.opts.Now(), r.opts.Expiries.Targets)
	if err := r.signTop(metadata.TARGETS, t); err != nil {
		return err
	}
	if err := r.writeMeta(versionedName(metadata.TARGETS, t.Signed.Version), t); err != nil {
		return err
	}
	r.targets = t
	return nil
}

// delegate writes the delegation to model (targets key) and, when the
// keyring holds the new keys, the delegated metadata under them.
func (r *Repository) delegate(model string, keys []*metadata.Key, threshold int) error {
	role := ModelRole(model)
	threshold = max(threshold, 1)
	if len(keys) < threshold {
		return fmt.Errorf("delegate %s: threshold %d exceeds its %d keys", role, threshold, len(keys))
	}
	if err := r.canSign(metadata.TARGETS); err != nil {
		return fmt.Errorf("delegate %s: %w", role, err)
	}
	t, err := clone(r.targets)
	if err != nil {
		return err
	}
	if t.Signed.Delegations == nil {
		t.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	}
	ds := t.Signed.Delegations
	ds.Roles = slices.DeleteFunc(ds.Roles, func(d metadata.DelegatedRole) bool { return d.Name == role })
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		id, err := k.ID()
		if err != nil {
			return err
		}
		ds.Keys[id] = k
		ids = append(ids, id)
	}
	ds.Roles = append(ds.Roles, metadata.DelegatedRole{Name: role, KeyIDs: ids, Threshold: threshold, Terminating: true, Paths: modelPaths(model)})
	// Drop keys no role uses any more (a rotated-out key).
	used := map[string]bool{}
	for _, d := range ds.Roles {
		for _, id := range d.KeyIDs {
			used[id] = true
		}
	}
	for id := range ds.Keys {
		if !used[id] {
			delete(ds.Keys, id)
		}
	}
	if err := r.writeTargets(t); err != nil {
		return err
	}
	r.log.Info("TUF delegation written", "role", role, "threshold", threshold)
	if r.canSign(role) != nil {
		return nil // its holder signs the delegated metadata
	}
	d, err := r.nextDelegated(role)
	if err != nil {
		return err
	}
	return r.writeDelegated(role, d)
}

// nextDelegated returns a copy of role's metadata (or a new one) ready for
// writeDelegated.
func (r *Repository) nextDelegated(role string) (*metadata.Metadata[metadata.TargetsType], error) {
	if cur := r.delegated[role]; cur != nil {
		return clone(cur)
	}
	d := metadata.Targets(time.Time{})
	d.Signed.Version = 0
	return d, nil
}

func (r *Repository) writeDelegated(role string, d *metadata.Metadata[metadata.TargetsType]) error {
	d.Signed.Version++
	d.Signed.Expires = r.expiry(r.opts.Now(), r.opts.Expiries.Delegation)
	ids, th, err := r.roleKeys(role)
	if err != nil {
		return err
	}
	if err := sign(r.opts.Keys, role, d, ids, th); err != nil {
		return err
	}
	if err := r.targets.VerifyDelegate(role, d); err != nil {
		return fmt.Errorf("verify new %s metadata: %w", role, err)
	}
	if err := r.writeMeta(versionedName(role, d.Signed.Version), d); err != nil {
		return err
	}
	r.delegated[role] = d
	return nil
}

func (r *Repository) maybeResignOnline() error {
	if r.opts.Offline {
		return nil
	}
	return r.resignOnline()
}

// resignOnline writes snapshot V+1 (the current targets and delegated
// versions) and timestamp V+1 (the snapshot's version, length and sha256).
func (r *Repository) resignOnline() error {
	now := r.opts.Now()
	snap := metadata.Snapshot(r.expiry(now, r.opts.Expiries.Snapshot))
	snap.Signed.Version = r.snapshotV + 1
	snap.Signed.Meta = map[string]*metadata.MetaFiles{"targets.json": metadata.MetaFile(r.targets.Signed.Version)}
	for role, d := range r.delegated {
		snap.Signed.Meta[role+".json"] = metadata.MetaFile(d.Signed.Version)
	}
	if err := r.signTop(metadata.SNAPSHOT, snap); err != nil {
		return err
	}
	snapBytes, err := snap.ToBytes(true)
	if err != nil {
		return err
	}
	ts := metadata.Timestamp(r.expiry(now, r.opts.Expiries.Timestamp))
	ts.Signed.Version = r.timestV + 1
	sum := sha256.Sum256(snapBytes)
	ts.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": {Version: snap.Signed.Version, Length: int64(len(snapBytes)), Hashes: metadata.Hashes{"sha256": sum[:]}}}
	if err := r.signTop(metadata.TIMESTAMP, ts); err != nil {
		return err
	}
	if err := pki.WritePublicFile(filepath.Join(r.opts.Dir, versionedName(metadata.SNAPSHOT, snap.Signed.Version)), snapBytes); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := r.writeMeta(timestampFile, ts); err != nil {
		return err
	}
	r.snapshotV, r.timestV = snap.Signed.Version, ts.Signed.Version
	r.log.Info("TUF snapshot and timestamp signed", "snapshot_version", r.snapshotV, "timestamp_version", r.timestV)
	return nil
}

type metaBytes interface{ ToBytes(bool) ([]byte, error) }

func (r *Repository) writeMeta(name string, m metaBytes) error {
	b, err := m.ToBytes(true)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	if err := pki.WritePublicFile(filepath.Join(r.opts.Dir, name), b); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func clone[T metadata.Roles](m *metadata.Metadata[T]) (*metadata.Metadata[T], error) {
	b, err := m.ToBytes(false)
	if err != nil {
		return nil, err
	}
	return new(metadata.Metadata[T]).FromBytes(b)
}

// hashes computes length, sha256 and sha512 in one pass.
type hashes struct {
	n    int64
	s256 hash.Hash
	s512 hash.Hash
}

func newHashes() *hashes { return &hashes{s256: sha256.New(), s512: sha512.New()} }

func (h *hashes) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	h.s256.Write(p)
	h.s512.Write(p)
	return len(p), nil
}

func (h *hashes) hex256() string { return fmt.Sprintf("%x", h.s256.Sum(nil)) }
func (h *hashes) hex512() string { return fmt.Sprintf("%x", h.s512.Sum(nil)) }
func (h *hashes) sum() string    { return fmt.Sprintf("%d/%s/%s", h.n, h.hex256(), h.hex512()) }

func hashAll(ctx context.Context, r io.Reader) (*hashes, error) {
	h := newHashes()
	if _, err := io.Copy(h, ctxReader{ctx, r}); err != nil {
		return nil, err
	}
	return h, nil
}
