package update

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/pki"
)

func TestKeyFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	pass := []byte("correct horse")
	kr, err := LoadKeyring(dir, pass)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kr.Generate("models/acme-th1")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := k.ID()
	files, _ := filepath.Glob(filepath.Join(dir, "*.key"))
	if len(files) != 1 || !strings.HasPrefix(filepath.Base(files[0]), "models-acme-th1-") {
		t.Fatalf("key files %v", files)
	}
	st, _ := os.Stat(files[0])
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(files[0])
	if !bytes.Contains(data, []byte("WARD ENCRYPTED PRIVATE KEY")) || bytes.Contains(data, []byte("BEGIN PRIVATE KEY")) {
		t.Fatal("a key written with a passphrase is not encrypted at rest")
	}

	again, err := LoadKeyring(dir, pass)
	if err != nil || !again.Holds(id) {
		t.Fatalf("reload: %v (holds %v, want %s)", err, again.IDs(), id)
	}
	for name, p := range map[string][]byte{"no passphrase": nil, "wrong passphrase": []byte("wrong")} {
		if _, err := LoadKeyring(dir, p); !errors.Is(err, pki.ErrPassphrase) {
			t.Errorf("%s: %v, want ErrPassphrase", name, err)
		}
	}
	if err := os.Chmod(files[0], 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyring(dir, pass); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable key: %v, want a refusal naming chmod 600", err)
	}
}

func TestKeyringUnencrypted(t *testing.T) {
	dir := t.TempDir()
	kr, _ := LoadKeyring(dir, nil)
	if _, err := kr.Generate("root"); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.key"))
	data, _ := os.ReadFile(files[0])
	if !bytes.Contains(data, []byte("BEGIN PRIVATE KEY")) {
		t.Fatal("want plain PKCS#8 without a passphrase")
	}
	// A non-Ed25519 key is refused with a clear reason.
	ec, _ := os.ReadFile(filepath.Join("testdata", "p256.key"))
	if err := os.WriteFile(filepath.Join(dir, "x.key"), ec, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyring(dir, nil); err == nil || !strings.Contains(err.Error(), "Ed25519") {
		t.Fatalf("ECDSA key: %v", err)
	}
}
