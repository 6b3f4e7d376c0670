package update

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/wardproject/ward/internal/pki"
)

// keyFileExt is the extension of a private key file in a key directory.
const keyFileExt = ".key"

// A Keyring holds the TUF private keys this process may sign with, indexed
// by TUF key ID. Which role a key serves is decided by the metadata that
// lists its ID, never by the file name (which only helps humans). Keys are
// Ed25519, stored PKCS#8 PEM with mode 0600, encrypted at rest with the
// passphrase when one is given (the format of Ward's CA key, see
// pki.MarshalPrivateKey).
type Keyring struct {
	dir     string
	pass    []byte
	signers map[string]signature.Signer
	files   map[string]string // key ID -> file
}

// LoadKeyring reads every *.key file in dir. A missing dir is an empty
// keyring that Generate will create. A key file that group or others can
// read is refused, as is a key that the passphrase does not decrypt.
func LoadKeyring(dir string, passphrase []byte) (*Keyring, error) {
	k := &Keyring{dir: dir, pass: passphrase, signers: map[string]signature.Signer{}, files: map[string]string{}}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key directory %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), keyFileExt) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := pki.ReadSecretFile(path)
		if err != nil {
			return nil, fmt.Errorf("read TUF key: %w", err)
		}
		priv, err := pki.ParsePrivateKey(data, passphrase)
		if err != nil {
			return nil, fmt.Errorf("read TUF key %s: %w", path, err)
		}
		if err := k.add(priv, path); err != nil {
			return nil, fmt.Errorf("read TUF key %s: %w", path, err)
		}
	}
	return k, nil
}

// Dir returns the directory new keys are written to.
func (k *Keyring) Dir() string { return k.dir }

// Generate creates an Ed25519 key with crypto/rand for role, writes it to
// the keyring's directory (0600, encrypted when the keyring has a
// passphrase) and returns its public TUF key.
func (k *Keyring) Generate(role string) (*metadata.Key, error) {
	if k.dir == "" {
		return nil, errors.New("generate TUF key: the keyring has no directory")
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", role, err)
	}
	pub, err := metadata.KeyFromPublicKey(priv.Public())
	if err != nil {
		return nil, err
	}
	id, err := pub.ID()
	if err != nil {
		return nil, err
	}
	pemData, err := pki.MarshalPrivateKey(priv, k.pass)
	if err != nil {
		return nil, fmt.Errorf("encode %s key: %w", role, err)
	}
	path := filepath.Join(k.dir, strings.ReplaceAll(role, "/", "-")+"-"+id[:12]+keyFileExt)
	if err := pki.WriteSecretFile(path, pemData); err != nil {
		return nil, fmt.Errorf("write %s key: %w", role, err)
	}
	if err := k.add(priv, path); err != nil {
		return nil, err
	}
	return pub, nil
}

// Merge adds other's keys to k (new keys are still written to k's
// directory). It lets one process sign with keys kept in two places.
func (k *Keyring) Merge(other *Keyring) {
	for id, s := range other.signers {
		k.signers[id] = s
		k.files[id] = other.files[id]
	}
}

// IDs returns the key IDs held, sorted.
func (k *Keyring) IDs() []string {
	ids := make([]string, 0, len(k.signers))
	for id := range k.signers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Holds reports whether the keyring holds the private key of key ID id.
func (k *Keyring) Holds(id string) bool { _, ok := k.signers[id]; return ok }

func (k *Keyring) add(priv any, path string) error {
	var signer signature.Signer
	var pub crypto.PublicKey
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		s, err := signature.LoadED25519Signer(p)
		if err != nil {
			return err
		}
		signer, pub = s, p.Public()
	default:
		return fmt.Errorf("unsupported key type %T (Ward's TUF keys are Ed25519)", priv)
	}
	tk, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return err
	}
	id, err := tk.ID()
	if err != nil {
		return err
	}
	k.signers[id] = signer
	k.files[id] = path
	return nil
}

// signers returns the signers among ids that the keyring holds, in ids'
// order, without duplicates.
func (k *Keyring) signersFor(ids []string) []signature.Signer {
	seen := map[string]bool{}
	var out []signature.Signer
	for _, id := range ids {
		if s, ok := k.signers[id]; ok && !seen[id] {
			seen[id] = true
			out = append(out, s)
		}
	}
	return out
}
