package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

func testCAPEM(t testing.TB) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestLoadClientPrecedence: each setting comes from its flag, else its
// WARD_* variable, else the context (--context, else the current one);
// the context's token and CA never go to another server.
func TestLoadClientPrecedence(t *testing.T) {
	ca := testCAPEM(t)
	saved := &Contexts{Current: "prod", Contexts: []Context{
		{Name: "prod", Server: "https://prod:8443", CAPEM: ca, Kind: KindToken, Token: "ctx-token"},
		{Name: "lab", Server: "https://lab:8443/", Kind: KindSession, Token: "lab-session", User: "alice", ExpiresAt: time.Now().Add(time.Hour)},
		{Name: "old", Server: "https://old:8443", Kind: KindSession, Token: "old-session", User: "bob", ExpiresAt: time.Now().Add(-time.Minute)},
		{Name: "out", Server: "https://out:8443", Kind: KindToken},
	}}
	type want struct {
		Server, Token, CA, CAPEM, Context string
	}
	tests := []struct {
		name    string
		flags   []string
		env     []string
		ctx     *Contexts
		want    want
		wantErr string
	}{
		{name: "current context alone", ctx: saved,
			want: want{Server: "https://prod:8443", Token: "ctx-token", CAPEM: ca, Context: "prod"}},
		{name: "env token wins over the context's", env: []string{"WARD_TOKEN=env-token"}, ctx: saved,
			want: want{Server: "https://prod:8443", Token: "env-token", CAPEM: ca, Context: "prod"}},
		{name: "flag token wins over env", flags: []string{"--token", "flag-token"}, env: []string{"WARD_TOKEN=env-token"}, ctx: saved,
			want: want{Server: "https://prod:8443", Token: "flag-token", CAPEM: ca, Context: "prod"}},
		{name: "env CA file wins over the pinned CA", env: []string{"WARD_CA=ca.pem"}, ctx: saved,
			want: want{Server: "https://prod:8443", Token: "ctx-token", CA: "ca.pem", Context: "prod"}},
		{name: "env server of the context keeps its secrets", env: []string{"WARD_SERVER=https://prod:8443/"}, ctx: saved,
			want: want{Server: "https://prod:8443", Token: "ctx-token", CAPEM: ca, Context: "prod"}},
		{name: "attack: another server never gets the context's token", env: []string{"WARD_SERVER=https://evil:8443"}, ctx: saved,
			wantErr: "no API token given"},
		{name: "another server with its own token", flags: []string{"--server", "https://other:1"}, env: []string{"WARD_TOKEN=t"}, ctx: saved,
			want: want{Server: "https://other:1", Token: "t"}},
		{name: "flag server wins over env server", flags: []string{"--server", "https://flag:1"}, env: []string{"WARD_SERVER=https://env:1", "WARD_TOKEN=t"},
			want: want{Server: "https://flag:1", Token: "t"}},
		{name: "--context picks another", flags: []string{"--context", "lab"}, ctx: saved,
			want: want{Server: "https://lab:8443", Token: "lab-session", Context: "lab"}},
		{name: "unknown --context", flags: []string{"--context", "nope"}, ctx: saved, wantErr: `no context named "nope"`},
		{name: "expired session", flags: []string{"--context", "old"}, ctx: saved, wantErr: "expired"},
		{name: "logged out", flags: []string{"--context", "out"}, ctx: saved, wantErr: "logged out"},
		{name: "nothing at all", ctx: &Contexts{}, wantErr: "ward login"},
		{name: "plain http refused", env: []string{"WARD_SERVER=http://plain:80", "WARD_TOKEN=t"}, wantErr: "https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
			RegisterClientFlags(fs)
			if err := fs.Parse(tt.flags); err != nil {
				t.Fatal(err)
			}
			ctx := tt.ctx
			if ctx == nil {
				ctx = &Contexts{}
			}
			c, err := LoadClientFrom(fs, tt.env, true, func() (*Contexts, error) { return ctx, nil })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "ctx-token") {
					t.Errorf("a token in the error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := want{Server: c.Server, Token: string(c.Token), CA: c.CA, CAPEM: string(c.CAPEM), Context: c.Context}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

// TestContextsFileModes: the file is written 0600 in a 0700 directory,
// round-trips, and a copy that group or others can read is refused with
// the chmod that fixes it.
func TestContextsFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ward")
	if err := os.MkdirAll(dir, 0o755); err != nil { // a directory made by someone else, too open
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.json")
	in := &Contexts{Current: "a", Contexts: []Context{{Name: "a", Server: "https://a:8443", CAPEM: testCAPEM(t), Kind: KindToken, Token: "s3cret"}}}
	if err := in.Write(path); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", p, st.Mode().Perm(), want)
		}
	}
	out, err := ReadContexts(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(in, out); d != "" {
		t.Errorf("round trip (-want +got)\n%s", d)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := ReadContexts(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: %v, want a refusal naming chmod 600", mode, err)
		}
	}
	if c, err := ReadContexts(filepath.Join(dir, "absent.json")); err != nil || len(c.Contexts) != 0 {
		t.Errorf("missing file: %+v, %v; want an empty configuration", c, err)
	}
}

// TestContextsWriteAtomic: a write goes through a temporary file renamed
// into place: no temporary file is left, and a write that fails (the
// directory is read-only) leaves the previous file whole.
func TestContextsWriteAtomic(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only directories")
	}
	dir := filepath.Join(t.TempDir(), "ward")
	path := filepath.Join(dir, "config.json")
	first := &Contexts{Current: "a", Contexts: []Context{{Name: "a", Server: "https://a:8443", Kind: KindToken, Token: "one"}}}
	if err := first.Write(path); err != nil {
		t.Fatal(err)
	}
	second := &Contexts{Current: "b", Contexts: []Context{{Name: "b", Server: "https://b:8443", Kind: KindToken, Token: "two"}}}
	if err := second.Write(path); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries after two writes, want config.json alone", len(ents))
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	big := &Contexts{Contexts: []Context{{Name: "c", Server: "https://c:8443", Kind: KindToken, Token: Secret(strings.Repeat("x", 1<<20))}}}
	if err := big.Write(path); err == nil {
		t.Fatal("write into a read-only directory succeeded")
	}
	got, err := ReadContexts(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(second, got); d != "" {
		t.Errorf("after a failed write (-want +got)\n%s", d)
	}
}

// TestParseContextsRefuses: a malformed file is an error that says what is
// wrong, never a half-read configuration.
func TestParseContextsRefuses(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"not JSON", "{", "invalid JSON"},
		{"unknown field", `{"contexts":[],"extra":1}`, "unknown field"},
		{"two values", `{"contexts":[]} {}`, "more than one value"},
		{"plain http", `{"contexts":[{"name":"a","server":"http://a","kind":"token"}]}`, "https"},
		{"duplicate", `{"contexts":[{"name":"a","server":"https://a","kind":"token"},{"name":"a","server":"https://b","kind":"token"}]}`, "twice"},
		{"bad kind", `{"contexts":[{"name":"a","server":"https://a","kind":"password"}]}`, "kind"},
		{"bad name", `{"contexts":[{"name":"a b","server":"https://a","kind":"token"}]}`, "only letters"},
		{"current missing", `{"current":"z","contexts":[]}`, "not defined"},
		{"bad CA", `{"contexts":[{"name":"a","server":"https://a","kind":"token","ca_pem":"junk"}]}`, "ca_pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseContexts([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) || c != nil {
				t.Errorf("ParseContexts(%s) = %v, %v; want an error with %q", tt.body, c, err, tt.want)
			}
		})
	}
}

// FuzzParseContexts: never panics, and what parses writes back to the
// same configuration.
func FuzzParseContexts(f *testing.F) {
	f.Add(`{"current":"a","contexts":[{"name":"a","server":"https://a:8443","kind":"token","token":"x"}]}`)
	f.Add(`{"contexts":[{"name":"b","server":"https://b","kind":"session","user":"u","expires_at":"2030-01-01T00:00:00Z"}]}`)
	f.Add(`{"contexts":null}`)
	f.Fuzz(func(t *testing.T, body string) {
		c, err := ParseContexts([]byte(body))
		if err != nil {
			return
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseContexts(b)
		if err != nil {
			t.Fatalf("written configuration does not parse: %v\n%s", err, b)
		}
		if d := cmp.Diff(c, again); d != "" {
			t.Errorf("round trip (-first +second)\n%s", d)
		}
	})
}
