package update

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// load reads the directory's state: root.json (verified by itself and by
// the previous root), the newest <V>.targets.json and <V>.<role>.json of
// each delegation (verified by their delegators; a delegated target outside
// its role's paths is refused), and the snapshot and timestamp versions
// (re-signed, never re-served, so only their versions matter).
func (r *Repository) load() error {
	dir := r.opts.Dir
	data, err := os.ReadFile(filepath.Join(dir, rootFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read TUF root: %w", err)
	}
	root, err := new(metadata.Metadata[metadata.RootType]).FromBytes(data)
	if err != nil {
		return fmt.Errorf("parse %s: %w", filepath.Join(dir, rootFile), err)
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		return fmt.Errorf("%s is not signed by its own root threshold: %w", filepath.Join(dir, rootFile), err)
	}
	if v := root.Signed.Version; v > 1 {
		prevPath := filepath.Join(dir, versionedName(metadata.ROOT, v-1))
		prev, err := new(metadata.Metadata[metadata.RootType]).FromFile(prevPath)
		if err != nil {
			return fmt.Errorf("read previous root (clients walk every version): %w", err)
		}
		if err := prev.VerifyDelegate(metadata.ROOT, root); err != nil {
			return fmt.Errorf("root version %d is not signed by root version %d's threshold: %w", v, v-1, err)
		}
	}

	latest, err := latestVersions(dir)
	if err != nil {
		return err
	}
	var targets *metadata.Metadata[metadata.TargetsType]
	if v := latest[metadata.TARGETS]; v > 0 {
		targets, err = readTargets(dir, metadata.TARGETS, v)
		if err != nil {
			return err
		}
		if err := root.VerifyDelegate(metadata.TARGETS, targets); err != nil {
			return fmt.Errorf("%s is not signed by the targets threshold: %w", versionedName(metadata.TARGETS, v), err)
		}
	}
	delegated := map[string]*metadata.Metadata[metadata.TargetsType]{}
	if targets != nil && targets.Signed.Delegations != nil {
		for _, role := range targets.Signed.Delegations.Roles {
			v := latest[role.Name]
			if v == 0 {
				continue // delegated, not yet signed by its holder
			}
			d, err := readTargets(dir, role.Name, v)
			if err != nil {
				return err
			}
			if err := targets.VerifyDelegate(role.Name, d); err != nil {
				return fmt.Errorf("%s is not signed by the %s threshold: %w", versionedName(role.Name, v), role.Name, err)
			}
			for p := range d.Signed.Targets {
				if ok, _ := role.IsDelegatedPath(p); !ok {
					return fmt.Errorf("%s lists target %s outside its paths %v", versionedName(role.Name, v), p, role.Paths)
				}
			}
			delegated[role.Name] = d
		}
	}
	var snapV, tsV int64
	if b, err := os.ReadFile(filepath.Join(dir, timestampFile)); err == nil {
		ts, err := new(metadata.Metadata[metadata.TimestampType]).FromBytes(b)
		if err != nil {
			return fmt.Errorf("parse %s: %w", timestampFile, err)
		}
		tsV = ts.Signed.Version
		if m := ts.Signed.Meta["snapshot.json"]; m != nil {
			snapV = m.Version
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", timestampFile, err)
	}
	// A snapshot written after the timestamp (an interrupted resign) still
	// counts: versions only ever grow.
	snapV = max(snapV, latest[metadata.SNAPSHOT])

	r.root, r.targets, r.delegated, r.snapshotV, r.timestV = root, targets, delegated, snapV, tsV
	return nil
}

// latestVersions maps each role to the highest <V>.<role>.json in dir.
func latestVersions(dir string) (map[string]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read TUF repository %s: %w", dir, err)
	}
	out := map[string]int64{}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		role, v, err := parseVersionedName(e.Name())
		if err != nil || v == 0 {
			continue
		}
		out[role] = max(out[role], v)
	}
	return out, nil
}

func readTargets(dir, role string, v int64) (*metadata.Metadata[metadata.TargetsType], error) {
	path := filepath.Join(dir, versionedName(role, v))
	m, err := new(metadata.Metadata[metadata.TargetsType]).FromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s metadata: %w", role, err)
	}
	if m.Signed.Version != v {
		return nil, fmt.Errorf("%s holds version %d", path, m.Signed.Version)
	}
	return m, nil
}
