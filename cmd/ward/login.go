package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/pki"
)

type loginFlags struct {
	server, ca, fingerprint, name, user string
	tokenStdin, passwordStdin           bool
}

func newLoginCmd() *cobra.Command {
	var f loginFlags
	cmd := &cobra.Command{
		Use:   "login --server URL [--ca FILE | --ca-fingerprint FP] [--name CTX] [--token-stdin | --user NAME [--password-stdin]]",
		Short: "Save a server, its CA and your credentials as a context, so later commands need no flags or WARD_* variables",
		Long: `Save a context: the server, the CA its certificate chains to and a secret, in
the CLI configuration file (` + "`os.UserConfigDir()/ward/config.json`" + `, e.g.
~/.config/ward/config.json: directory 0700, file 0600, written atomically). The
context becomes the current one. Flags and WARD_SERVER/WARD_TOKEN/WARD_CA still
win over it; --context NAME picks another saved context for one command.

Trust: --ca FILE (the server's ca.pem), or --ca-fingerprint FP, the SHA-256 of
the server's root certificate as "ward ca show" and the server's first start
print (hex, with or without colons): the CLI fetches the server's chain without
trusting it, pins the root that matches and stores it; when none matches it
refuses and stores nothing. Without either, the system roots.

Credentials: an API token, read from standard input with --token-stdin or
prompted for without echo, checked with GET /api/v1/whoami before it is
stored; or --user NAME: the password is prompted for (or read with
--password-stdin) and exchanged for a session token that expires. No token is
ever printed. ward logout removes the secret again.`,
		Example: `  ward login --server https://localhost:8443 --ca ward-data/ca.pem --token-stdin < ward-data/admin.token
  ward login --server https://ward.example:8443 --ca-fingerprint 3A:1F:... --user alice`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLogin(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "Ward server URL, e.g. https://localhost:8443 (required)")
	fl.StringVar(&f.ca, "ca", "", "CA certificate file the server's certificate chains to, e.g. ward-data/ca.pem")
	fl.StringVar(&f.fingerprint, "ca-fingerprint", "", "SHA-256 fingerprint of the server's root CA, to pin it without a CA file")
	fl.StringVar(&f.name, "name", "", "name of the context (default: the server's host:port)")
	fl.StringVar(&f.user, "user", "", "log in as this user (password prompted, or --password-stdin) instead of with an API token")
	fl.BoolVar(&f.tokenStdin, "token-stdin", false, "read the API token from standard input")
	fl.BoolVar(&f.passwordStdin, "password-stdin", false, "read the --user password from standard input")
	cmd.MarkFlagsMutuallyExclusive("ca", "ca-fingerprint")
	cmd.MarkFlagsMutuallyExclusive("token-stdin", "user")
	cmd.MarkFlagsMutuallyExclusive("token-stdin", "password-stdin")
	return cmd
}

func runLogin(cmd *cobra.Command, f loginFlags) error {
	if f.server == "" {
		f.server = os.Getenv("WARD_SERVER")
	}
	if f.server == "" {
		return errors.New("--server https://HOST:8443 is required")
	}
	u, err := url.Parse(f.server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--server %q must be an https:// URL, e.g. https://localhost:8443", f.server)
	}
	server := strings.TrimRight(f.server, "/")
	name := f.name
	if name == "" {
		name = u.Host
	}
	if err := config.CheckContextName(name); err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	if f.passwordStdin && f.user == "" {
		return errors.New("--password-stdin needs --user NAME")
	}
	path, err := config.ContextsPath()
	if err != nil {
		return err
	}
	all, err := config.ReadContexts(path) // refuse a readable file before asking for secrets
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
	defer cancel()

	var caPEM []byte
	switch {
	case f.ca != "":
		if _, caPEM, err = pki.ReadRoots(f.ca); err != nil {
			return err
		}
	case f.fingerprint != "":
		root, err := pinRoot(ctx, server, f.fingerprint)
		if err != nil {
			return err
		}
		caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
	}
	x := config.Context{Name: name, Server: server, CAPEM: string(caPEM), Kind: config.KindToken}
	anon, err := newClient(config.Client{Server: server, CAPEM: caPEM, Context: name})
	if err != nil {
		return err
	}
	in := cmd.InOrStdin()
	var who api.Whoami
	if f.user != "" {
		pw, err := readSecret(cmd, in, f.passwordStdin, "Password for "+f.user+": ")
		if err != nil {
			return err
		}
		s, err := anon.CreateSession(ctx, f.user, pw)
		if err != nil {
			return fmt.Errorf("log in as %s: %w", f.user, err)
		}
		x.Kind, x.Token, x.User, x.ExpiresAt = config.KindSession, config.Secret(s.Token), f.user, s.ExpiresAt
	} else {
		tok, err := readSecret(cmd, in, f.tokenStdin, "API token: ")
		if err != nil {
			return err
		}
		x.Token = config.Secret(strings.TrimSpace(tok))
	}
	c, err := newClient(config.Client{Server: server, CAPEM: caPEM, Token: x.Token, Context: name})
	if err != nil {
		return err
	}
	if err := c.Get(ctx, "/api/v1/whoami", &who); err != nil {
		return fmt.Errorf("check the credentials with %s: %w", server, err)
	}
	if x.Kind == config.KindToken {
		x.ExpiresAt = who.ExpiresAt
	}
	all.Put(x)
	all.Current = name
	if err := all.Write(path); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "logged in to %s as %s (%s); context %q saved in %s and made current\n", server, who.Kind+" "+who.Name, who.Role, name, path)
	return nil
}

// readSecret reads a token or password: one line of standard input with
// fromStdin, else a prompt on the terminal without echo.
func readSecret(cmd *cobra.Command, in io.Reader, fromStdin bool, prompt string) (string, error) {
	ss, err := readSecrets(cmd, in, fromStdin, prompt)
	if err != nil {
		return "", err
	}
	return ss[0], nil
}

// readSecrets reads one secret per prompt: one line each of standard
// input with fromStdin, else each prompt on the terminal without echo.
// A secret is kept as typed, only its line ending removed: a password may
// begin or end with spaces, and the browser's sign-in sends it that way.
func readSecrets(cmd *cobra.Command, in io.Reader, fromStdin bool, prompts ...string) ([]string, error) {
	out := make([]string, 0, len(prompts))
	if fromStdin {
		r := bufio.NewReader(io.LimitReader(in, 64<<10))
		for i := range prompts {
			line, err := r.ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("read standard input: %w", err)
			}
			s := strings.TrimRight(line, "\r\n")
			if s == "" {
				if i == 0 {
					return nil, errors.New("standard input is empty")
				}
				return nil, fmt.Errorf("standard input has %d lines, %d needed", i, len(prompts))
			}
			out = append(out, s)
		}
		return out, nil
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("standard input is not a terminal: pass the secret on standard input with --token-stdin or --password-stdin")
	}
	for _, prompt := range prompts {
		fmt.Fprint(cmd.ErrOrStderr(), prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return nil, fmt.Errorf("read from the terminal: %w", err)
		}
		s := string(b)
		if s == "" {
			return nil, errors.New("nothing entered")
		}
		out = append(out, s)
	}
	return out, nil
}

// fingerprintBytes parses a SHA-256 fingerprint: 64 hex digits, with or
// without colons, optionally prefixed "sha256:".
func fingerprintBytes(fp string) ([]byte, error) {
	s := strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(fp)), "sha256:"), ":", "")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("--ca-fingerprint %q is not a SHA-256 fingerprint (64 hex digits, colons allowed; ward ca show prints it)", fp)
	}
	return b, nil
}

// matchFingerprint returns the CA certificate among certs whose SHA-256
// is fp.
func matchFingerprint(certs []*x509.Certificate, fp []byte) *x509.Certificate {
	want := strings.ToUpper(hex.EncodeToString(fp))
	for _, c := range certs {
		if c.IsCA && strings.ReplaceAll(pki.Fingerprint(c), ":", "") == want {
			return c
		}
	}
	return nil
}

// pinRoot finds the server's root whose SHA-256 is fp, without trusting
// the server: in the chain of its TLS handshake, else in its EST
// /cacerts. The handshake's certificate must then chain to that root for
// the server's host name, so a machine in the middle that relays the real
// /cacerts is still refused.
func pinRoot(ctx context.Context, server, fp string) (*x509.Certificate, error) {
	want, err := fingerprintBytes(fp)
	if err != nil {
		return nil, err
	}
	hc := bootstrapHTTP()
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/healthz", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s's certificate chain: %w", server, err)
	}
	resp.Body.Close()
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return nil, fmt.Errorf("%s presented no certificate", server)
	}
	chain := resp.TLS.PeerCertificates
	root := matchFingerprint(chain, want)
	if root == nil {
		if cas, err := (&est.Client{Server: server, HTTP: hc}).CACerts(ctx); err == nil {
			root = matchFingerprint(cas, want)
		}
	}
	if root == nil {
		return nil, errors.New("no CA certificate of the server matches --ca-fingerprint: refusing to trust this server (check the fingerprint with ward ca show on the server)")
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	u, _ := url.Parse(server)
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: u.Hostname()}); err != nil {
		return nil, fmt.Errorf("the server's certificate does not chain to the CA of --ca-fingerprint: refusing to trust this server: %w", err)
	}
	return root, nil
}
