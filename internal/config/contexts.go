package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/wardproject/ward/internal/pki"
)

// Kinds of secret a Context holds.
const (
	// KindToken is an API token (ward token create), checked with
	// GET /api/v1/whoami before it is stored.
	KindToken = "token"
	// KindSession is a user's session token from POST /api/v1/session;
	// it expires, and ward logout deletes it on the server.
	KindSession = "session"
)

// Context is one saved connection of the CLI (ward login): a server, the
// CA it is trusted by and the secret the CLI presents to it.
type Context struct {
	Name   string `json:"name"`
	Server string `json:"server"` // https://host:port
	// CAPEM is the PEM of the roots the server's certificate must chain
	// to; empty: the system roots.
	CAPEM string `json:"ca_pem,omitempty"`
	// Kind is KindToken or KindSession; Token is its secret ("" after
	// ward logout).
	Kind  string `json:"kind"`
	Token Secret `json:"token,omitempty"`
	// User names the account of a session.
	User string `json:"user,omitempty"`
	// ExpiresAt is when the session or token expires (zero: never).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Contexts is the CLI's configuration file: its saved contexts and the
// current one, which commands use when no --server or WARD_SERVER is given.
type Contexts struct {
	Current  string    `json:"current,omitempty"`
	Contexts []Context `json:"contexts"`
}

// maxContextsFile bounds the configuration file read.
const maxContextsFile = 4 << 20

// ContextsPath is the CLI's configuration file:
// os.UserConfigDir()/ward/config.json ($XDG_CONFIG_HOME/ward/config.json
// or ~/.config/ward/config.json on Linux).
func ContextsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user's configuration directory: %w", err)
	}
	return filepath.Join(dir, "ward", "config.json"), nil
}

// ReadContexts reads the CLI's configuration file. A missing file is an
// empty configuration. A file that group or others can read (or write)
// is refused: it holds tokens.
func ReadContexts(path string) (*Contexts, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Contexts{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read CLI configuration: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read CLI configuration: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("CLI configuration %s has mode %04o: it holds tokens, so only its owner may read it (run: chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxContextsFile+1))
	if err != nil {
		return nil, fmt.Errorf("read CLI configuration %s: %w", path, err)
	}
	if len(data) > maxContextsFile {
		return nil, fmt.Errorf("CLI configuration %s is larger than %d bytes", path, maxContextsFile)
	}
	c, err := ParseContexts(data)
	if err != nil {
		return nil, fmt.Errorf("CLI configuration %s: %w (fix it, or delete it and run ward login again)", path, err)
	}
	return c, nil
}

// ParseContexts parses the configuration file's JSON strictly: unknown
// fields, duplicate names, a current context that does not exist and
// contexts without a name or an https server are errors.
func ParseContexts(data []byte) (*Contexts, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Contexts
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invalid JSON: more than one value")
	}
	seen := map[string]bool{}
	for i, x := range c.Contexts {
		if err := CheckContextName(x.Name); err != nil {
			return nil, fmt.Errorf("context %d: %w", i+1, err)
		}
		if seen[x.Name] {
			return nil, fmt.Errorf("context %q appears twice", x.Name)
		}
		seen[x.Name] = true
		if _, err := checkServer(x.Server); err != nil {
			return nil, fmt.Errorf("context %q: server %w", x.Name, err)
		}
		if x.Kind != KindToken && x.Kind != KindSession {
			return nil, fmt.Errorf("context %q: kind must be %q or %q, not %q", x.Name, KindToken, KindSession, x.Kind)
		}
		if x.CAPEM != "" {
			if _, err := pki.ParseCertificatesPEM([]byte(x.CAPEM)); err != nil {
				return nil, fmt.Errorf("context %q: ca_pem: %w", x.Name, err)
			}
		}
	}
	if c.Current != "" && !seen[c.Current] {
		return nil, fmt.Errorf("current context %q is not defined", c.Current)
	}
	return &c, nil
}

// CheckContextName accepts 1 to 64 letters, digits, '.', '_', '-' and '@'.
func CheckContextName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("context name %q must be 1 to 64 characters", name)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == '@' || r == ':'
		if !ok {
			return fmt.Errorf("context name %q: only letters, digits and . _ - @ : are allowed", name)
		}
	}
	return nil
}

// Write stores the configuration at path: mode 0600 in a 0700 directory,
// through a temporary file renamed into place, so a crash never leaves
// half a file.
func (c *Contexts) Write(path string) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restrict %s to its owner: %w", dir, err)
	}
	if err := pki.WriteSecretFile(path, append(data, '\n')); err != nil {
		return fmt.Errorf("write CLI configuration %s: %w", path, err)
	}
	return nil
}

// Get returns the context named name.
func (c *Contexts) Get(name string) (*Context, bool) {
	i := slices.IndexFunc(c.Contexts, func(x Context) bool { return x.Name == name })
	if i < 0 {
		return nil, false
	}
	return &c.Contexts[i], true
}

// Put adds x or replaces the context of the same name.
func (c *Contexts) Put(x Context) {
	if cur, ok := c.Get(x.Name); ok {
		*cur = x
		return
	}
	c.Contexts = append(c.Contexts, x)
}

// Delete removes the context named name; deleting the current context
// leaves none current.
func (c *Contexts) Delete(name string) bool {
	n := len(c.Contexts)
	c.Contexts = slices.DeleteFunc(c.Contexts, func(x Context) bool { return x.Name == name })
	if c.Current == name {
		c.Current = ""
	}
	return len(c.Contexts) < n
}
