package update

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Directories of the two key set-ups. A site keeps everything under its
// data directory; an offline key directory (ward update keys init --dir
// DIR) separates what stays offline from what goes to the server.
const (
	SiteRepoDir      = "tuf"        // <data-dir>/tuf: the repository layout
	SiteKeysDir      = "tuf-keys"   // <data-dir>/tuf-keys: the site's private keys
	OfflineKeysDir   = "keys"       // DIR/keys: root and targets keys (stay offline)
	OfflineOnlineDir = "online"     // DIR/online: snapshot and timestamp keys (move to the server's tuf-keys)
	OfflineRepoDir   = "repository" // DIR/repository: root.json, 1.root.json, 1.targets.json (copy to the server's tuf)
)

// Thresholds are the number of keys (and signatures) per top-level role
// that the init functions create; 0 means 1.
type Thresholds map[string]int

func (t Thresholds) of(role string) int { return max(t[role], 1) }

// InitSite creates every key of a single-site repository in
// <dataDir>/tuf-keys (encrypted with passphrase when given) and the
// repository in <dataDir>/tuf. It returns the opened repository.
func InitSite(ctx context.Context, dataDir string, passphrase []byte, th Thresholds, opts Options) (*Repository, error) {
	kr, err := LoadKeyring(filepath.Join(dataDir, SiteKeysDir), passphrase)
	if err != nil {
		return nil, err
	}
	opts.Dir, opts.Keys = filepath.Join(dataDir, SiteRepoDir), kr
	r, err := Open(opts)
	if err != nil {
		return nil, err
	}
	if r.Initialized() {
		return nil, fmt.Errorf("%s: %w", opts.Dir, ErrExists)
	}
	roles := map[string]RoleKeys{}
	for _, role := range metadata.TOP_LEVEL_ROLE_NAMES {
		rk := RoleKeys{Threshold: th.of(role)}
		for range rk.Threshold {
			k, err := kr.Generate(role)
			if err != nil {
				return nil, err
			}
			rk.Keys = append(rk.Keys, k)
		}
		roles[role] = rk
	}
	if err := r.Init(ctx, roles); err != nil {
		return nil, err
	}
	return r, nil
}

// InitOffline is the key ceremony's first step, run on a machine without a
// server: it creates the root and targets keys in DIR/keys, the snapshot
// and timestamp keys in DIR/online (to be moved to the server), and
// DIR/repository with root.json, 1.root.json and 1.targets.json signed by
// the offline keys. The server finishes with ward update init.
func InitOffline(ctx context.Context, dir string, passphrase []byte, th Thresholds, opts Options) (*Repository, error) {
	offline, err := LoadKeyring(filepath.Join(dir, OfflineKeysDir), passphrase)
	if err != nil {
		return nil, err
	}
	online, err := LoadKeyring(filepath.Join(dir, OfflineOnlineDir), passphrase)
	if err != nil {
		return nil, err
	}
	opts.Dir, opts.Keys, opts.Offline = filepath.Join(dir, OfflineRepoDir), offline, true
	r, err := Open(opts)
	if err != nil {
		return nil, err
	}
	if r.Initialized() {
		return nil, fmt.Errorf("%s: %w", opts.Dir, ErrExists)
	}
	roles := map[string]RoleKeys{}
	for _, role := range metadata.TOP_LEVEL_ROLE_NAMES {
		kr := offline
		if role == metadata.SNAPSHOT || role == metadata.TIMESTAMP {
			kr = online
		}
		rk := RoleKeys{Threshold: th.of(role)}
		for range rk.Threshold {
			k, err := kr.Generate(role)
			if err != nil {
				return nil, err
			}
			rk.Keys = append(rk.Keys, k)
		}
		roles[role] = rk
	}
	if err := r.Init(ctx, roles); err != nil {
		return nil, err
	}
	return r, nil
}
