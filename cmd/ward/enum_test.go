package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/pki"
)

// TestEnumFlagsRefuseUnknownValues walks the command tree: every enum
// flag refuses a value it does not know, before anything runs (no server
// is given here), exits non-zero and lists the values with a suggestion;
// a value in another case is accepted as its canonical spelling.
func TestEnumFlagsRefuseUnknownValues(t *testing.T) {
	root := newRootCmd()
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			allowed := enumValues(c, f)
			if allowed == nil {
				return
			}
			n++
			path := strings.Fields(c.CommandPath())[1:]
			var args []string
			var out string
			var err error
			// Positional arguments are checked first: give as many as
			// the command takes.
			for n := range 4 {
				args = append(append(slices.Clone(path), "--"+f.Name, "no-such-value"), slices.Repeat([]string{"x"}, n)...)
				if c.Flags().Lookup("server") != nil {
					args = append(args, "--server", "https://127.0.0.1:1", "--token", "ward_0011223344556677_x")
				}
				if out, err = runCLI(args...); err == nil || !strings.Contains(err.Error(), "arg(s)") {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), `unknown value "no-such-value"`) || !strings.Contains(err.Error(), "one of: "+strings.Join(allowed, ", ")) {
				t.Errorf("ward %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
	walk(root)
	if n < 10 {
		t.Errorf("only %d enum flags found", n)
	}
	// No server anywhere: a flag refused up front never reaches one.
	_, err := runCLI("device", "revoke", "d1", "--reason", "keyCompromize", "--server", "https://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "did you mean keyCompromise?") {
		t.Errorf("a misspelt reason: %v", err)
	}
	_, err = runCLI("alert", "list", "--state", "open,acknowleged", "--server", "https://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "did you mean acknowledged?") {
		t.Errorf("a misspelt state in a list: %v", err)
	}
}

func runCLI(args ...string) (string, error) {
	cmd := newRootCmd()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestCanonicalEnum(t *testing.T) {
	for _, tt := range []struct {
		v       string
		allowed []string
		want    string
		ok      bool
	}{
		{"keycompromise", pki.RevocationReasons, "keyCompromise", true},
		{"JSON", []string{"table", "json"}, "json", true},
		{"models/cam", []string{"root", "models/"}, "models/cam", true},
		{"models/", []string{"root", "models/"}, "", false},
		{"keyCompromise ", pki.RevocationReasons, "", false},
	} {
		got, ok := canonicalEnum(tt.v, tt.allowed)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("canonicalEnum(%q) = %q %v, want %q %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}

// TestRevokeReasonInCRL: ward device revoke --reason keycompromise (any
// case) revokes with the RFC 5280 reason keyCompromise, and the CRL
// entry of the device's certificate carries reason code 1; retire
// without a reason carries cessationOfOperation (5).
func TestRevokeReasonInCRL(t *testing.T) {
	w := startForCLI(t)
	dev := wardCLI{t: t, env: []string{w.env[0], w.env[1], w.env[4], w.env[5]}}
	serials := map[string]string{}
	for _, id := range []string{"k-1", "k-2"} {
		var res struct {
			Token string `json:"token"`
		}
		json.Unmarshal([]byte(w.must("device", "add", "--id", id, "--model", "cam", "-o", "json")), &res)
		dev.must("enroll", "--id", id, "--token", res.Token, "--dir", t.TempDir())
	}
	var rv struct {
		RevokeReason   string   `json:"revoke_reason"`
		RevokedSerials []string `json:"revoked_serials"`
	}
	json.Unmarshal([]byte(w.must("device", "revoke", "k-1", "--reason", "keycompromise", "-o", "json")), &rv)
	serials["k-1"] = rv.RevokedSerials[0]
	json.Unmarshal([]byte(w.must("device", "retire", "k-2", "-o", "json")), &rv)
	serials["k-2"] = rv.RevokedSerials[0]

	roots, _, err := pki.ReadRoots(w.env[5])
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{Server: w.env[1], Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	der, err := c.Raw(context.Background(), "/crl")
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int{}
	for _, e := range crl.RevokedCertificateEntries {
		codes[pki.SerialHex(e.SerialNumber)] = e.ReasonCode
	}
	for id, want := range map[string]int{"k-1": 1, "k-2": 5} {
		if got, ok := codes[serials[id]]; !ok || got != want {
			t.Errorf("CRL entry of %s (%s): reason %d (listed %v), want %d", id, serials[id], got, ok, want)
		}
	}
	if out := w.must("cert", "list", "--device", "k-1", "-o", "json"); !strings.Contains(out, `"keyCompromise"`) {
		t.Errorf("the stored reason is not keyCompromise:\n%s", out)
	}
}
