package update

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/wardproject/ward/internal/pki"
)

// maxMetadataFile bounds a metadata file given to SignFile (go-tuf's
// client refuses targets metadata above 5 MB).
const maxMetadataFile = 5 << 20

// SignResult says what SignFile did.
type SignResult struct {
	Role       string
	Version    int64
	Expires    time.Time
	Added      []string // key IDs whose signatures were added
	Signatures int      // signatures now on the file
	Threshold  int      // the role's threshold (for root: of the new root)
	// What was signed, for the signer to review: the new root's roles and
	// keys, or the paths a targets file lists.
	Root    *metadata.Metadata[metadata.RootType]
	Targets []string
}

// metadataType returns the "_type" of a TUF metadata document and checks
// its outer shape ({"signed": {...}, "signatures": [...]}).
func metadataType(data []byte) (string, error) {
	var doc struct {
		Signed *struct {
			Type string `json:"_type"`
		} `json:"signed"`
		Signatures *[]json.RawMessage `json:"signatures"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return "", fmt.Errorf("not TUF metadata: %w", err)
	}
	if dec.More() {
		return "", errors.New("not TUF metadata: trailing data after the object")
	}
	if doc.Signed == nil || doc.Signatures == nil {
		return "", errors.New(`not TUF metadata: want {"signed": {...}, "signatures": [...]}`)
	}
	switch t := doc.Signed.Type; t {
	case metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP:
		return t, nil
	default:
		return "", fmt.Errorf("not TUF metadata: unknown _type %q", t)
	}
}

// SignFile adds the signatures of the keys r's keyring holds to the
// metadata file at path, for the role its name says (root.json,
// <N>.root.json, <V>.targets.json, <V>.models%2F<model>.json, ...), and
// rewrites it atomically. Existing signatures are kept, so several key
// holders can sign one file in turn. Which keys count comes from r's
// trusted metadata: for a new root, the keys of its own root role and of
// the current root's (a rotation needs both thresholds); for targets,
// snapshot and timestamp, the current root's; for models/<model>, the
// current targets' delegation.
func (r *Repository) SignFile(path string) (SignResult, error) {
	st, err := os.Stat(path)
	if err != nil {
		return SignResult{}, err
	}
	if st.Size() > maxMetadataFile {
		return SignResult{}, fmt.Errorf("%s: %d bytes is more than the %d a TUF client accepts", path, st.Size(), maxMetadataFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return SignResult{}, err
	}
	role, _, err := parseVersionedName(filepath.Base(path))
	if err != nil {
		return SignResult{}, err
	}
	typ, err := metadataType(data)
	if err != nil {
		return SignResult{}, fmt.Errorf("%s: %w", path, err)
	}
	want := role
	if _, ok := cutModel(role); ok {
		want = metadata.TARGETS
	}
	if typ != want {
		return SignResult{}, fmt.Errorf("%s: the name says %s but the content is %s metadata", path, role, typ)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	th := 0
	if role != metadata.ROOT || r.root != nil {
		if r.root == nil {
			return SignResult{}, fmt.Errorf("sign %s: %w", role, ErrNotInitialized)
		}
		if ids, th, err = r.roleKeys(role); err != nil {
			return SignResult{}, fmt.Errorf("sign %s: %w", role, err)
		}
	}
	var res SignResult
	var out []byte
	switch typ {
	case metadata.ROOT:
		m, err := new(metadata.Metadata[metadata.RootType]).FromBytes(data)
		if err != nil {
			return SignResult{}, fmt.Errorf("%s: %w", path, err)
		}
		rr := m.Signed.Roles[metadata.ROOT]
		if rr == nil {
			return SignResult{}, fmt.Errorf("%s: root metadata without a root role", path)
		}
		ids, th = append(slices.Clone(rr.KeyIDs), ids...), rr.Threshold
		res, out, err = addSignatures(r.opts.Keys, m, role, m.Signed.Version, m.Signed.Expires, ids)
		if err != nil {
			return SignResult{}, err
		}
		res.Root = m
	case metadata.TARGETS:
		m, err := new(metadata.Metadata[metadata.TargetsType]).FromBytes(data)
		if err != nil {
			return SignResult{}, fmt.Errorf("%s: %w", path, err)
		}
		res, out, err = addSignatures(r.opts.Keys, m, role, m.Signed.Version, m.Signed.Expires, ids)
		if err != nil {
			return SignResult{}, err
		}
		for p := range m.Signed.Targets {
			res.Targets = append(res.Targets, p)
		}
		slices.Sort(res.Targets)
	case metadata.SNAPSHOT:
		m, err := new(metadata.Metadata[metadata.SnapshotType]).FromBytes(data)
		if err != nil {
			return SignResult{}, fmt.Errorf("%s: %w", path, err)
		}
		res, out, err = addSignatures(r.opts.Keys, m, role, m.Signed.Version, m.Signed.Expires, ids)
		if err != nil {
			return SignResult{}, err
		}
	case metadata.TIMESTAMP:
		m, err := new(metadata.Metadata[metadata.TimestampType]).FromBytes(data)
		if err != nil {
			return SignResult{}, fmt.Errorf("%s: %w", path, err)
		}
		res, out, err = addSignatures(r.opts.Keys, m, role, m.Signed.Version, m.Signed.Expires, ids)
		if err != nil {
			return SignResult{}, err
		}
	}
	res.Threshold = th
	if len(res.Added) == 0 {
		return res, fmt.Errorf("sign %s: this machine holds none of the keys that may sign it (%d key(s) held)", path, len(r.opts.Keys.signers))
	}
	if err := pki.WritePublicFile(path, out); err != nil {
		return SignResult{}, fmt.Errorf("write %s: %w", path, err)
	}
	return res, nil
}

// addSignatures signs m with every held key among ids that has not signed
// it yet and returns the new encoding.
func addSignatures[T metadata.Roles](kr *Keyring, m *metadata.Metadata[T], role string, version int64, expires time.Time, ids []string) (SignResult, []byte, error) {
	res := SignResult{Role: role, Version: version, Expires: expires}
	signed := map[string]bool{}
	for _, s := range m.Signatures {
		signed[s.KeyID] = true
	}
	for _, id := range ids {
		s, ok := kr.signers[id]
		if !ok || signed[id] {
			continue
		}
		if _, err := m.Sign(s); err != nil {
			return SignResult{}, nil, fmt.Errorf("sign %s: %w", role, err)
		}
		signed[id] = true
		res.Added = append(res.Added, id)
	}
	res.Signatures = len(m.Signatures)
	out, err := m.ToBytes(true)
	return res, out, err
}
