package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/pki"
)

func newEnrollCmd() *cobra.Command {
	var id, token, tokenFile, dir, fingerprint string
	var renew bool
	cmd := &cobra.Command{
		Use:   "enroll --server URL --id ID --token TOKEN",
		Short: "Enroll this device over EST (RFC 7030): generate a key locally, get a certificate",
		Long: `Enroll a device with Ward's EST endpoint. The private key is generated here and
never leaves the device; only the certificate request is sent. Files written to
--dir: device.key (0600), device.pem (the certificate), ca.pem (the CA root).

Trust: --ca names the CA file to trust. Without it, ward enroll fetches
/.well-known/est/cacerts and accepts it only if its root matches
--ca-fingerprint (SHA-256, as "ward ca show" and the server's first start print).

--renew re-enrolls with the current device.pem/device.key over mutual TLS
(simplereenroll) and replaces them with a new key and certificate.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := config.LoadClient(cmd.Flags(), os.Environ(), false)
			if err != nil {
				return err
			}
			token, _ = cmd.Flags().GetString("token") // never WARD_TOKEN: that is an operator's API token
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("read token file: %w", err)
				}
				token = strings.TrimSpace(string(b))
			}
			return enroll(cmd, cc, id, token, dir, fingerprint, renew)
		},
	}
	config.RegisterClientFlags(cmd.Flags())
	cmd.Flags().Lookup("token").Usage = "one-time enrollment token from 'ward device add'"
	cmd.Flags().StringVar(&id, "id", "", "device ID (required unless --renew)")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "read the enrollment token from this file")
	cmd.Flags().StringVar(&dir, "dir", ".", "directory for device.key, device.pem and ca.pem")
	cmd.Flags().StringVar(&fingerprint, "ca-fingerprint", "", "SHA-256 fingerprint of the CA root, to bootstrap trust without --ca")
	cmd.Flags().BoolVar(&renew, "renew", false, "re-enroll with the current certificate (simplereenroll)")
	return cmd
}

func enroll(cmd *cobra.Command, cc config.Client, id, token, dir, fingerprint string, renew bool) error {
	ctx := cmd.Context()
	roots, rootPEM, err := enrollTrust(ctx, cc, fingerprint)
	if err != nil {
		return err
	}
	c := &est.Client{Server: cc.Server, Roots: roots}
	key, err := est.NewDeviceKey()
	if err != nil {
		return err
	}
	keyPath, certPath := filepath.Join(dir, "device.key"), filepath.Join(dir, "device.pem")
	var crt *x509.Certificate
	if renew {
		cur, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return fmt.Errorf("load current certificate for --renew: %w", err)
		}
		leaf, err := x509.ParseCertificate(cur.Certificate[0])
		if err != nil {
			return err
		}
		if id, err = pki.DeviceIDFromCert(leaf); err != nil {
			return err
		}
		csr, err := est.NewCSR(id, key)
		if err != nil {
			return err
		}
		if crt, err = c.Reenroll(ctx, cur, csr); err != nil {
			return err
		}
	} else {
		if id == "" || token == "" {
			return errors.New("--id and --token (or --token-file) are required to enroll")
		}
		csr, err := est.NewCSR(id, key)
		if err != nil {
			return err
		}
		if crt, err = c.Enroll(ctx, id, token, csr); err != nil {
			return err
		}
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := pki.WriteSecretFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})); err != nil {
		return fmt.Errorf("write %s: %w", keyPath, err)
	}
	if err := pki.WritePublicFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: crt.Raw})); err != nil {
		return fmt.Errorf("write %s: %w", certPath, err)
	}
	if err := pki.WritePublicFile(filepath.Join(dir, "ca.pem"), rootPEM); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "enrolled %s: certificate serial %s, valid until %s\nwrote %s, %s, %s\n",
		id, pki.SerialHex(crt.SerialNumber), fmtTime(crt.NotAfter), keyPath, certPath, filepath.Join(dir, "ca.pem"))
	return nil
}

// enrollTrust returns the roots to trust: the --ca file, or /cacerts
// checked against the expected root fingerprint.
func enrollTrust(ctx context.Context, cc config.Client, fingerprint string) (*x509.CertPool, []byte, error) {
	if cc.CA != "" || len(cc.CAPEM) > 0 {
		return clientRoots(cc)
	}
	if fingerprint == "" {
		return nil, nil, errors.New("give --ca FILE (the server's ca.pem) or --ca-fingerprint to bootstrap trust")
	}
	want, err := fingerprintBytes(fingerprint)
	if err != nil {
		return nil, nil, err
	}
	// Explicit trust bootstrap (RFC 7030 §4.1.1): the TLS server is not yet
	// trusted, so the answer counts only if its root matches the fingerprint
	// the operator gave out of band.
	insecure := &est.Client{Server: cc.Server, HTTP: bootstrapHTTP()}
	certs, err := insecure.CACerts(ctx)
	if err != nil {
		return nil, nil, err
	}
	if c := matchFingerprint(certs, want); c != nil {
		pool := x509.NewCertPool()
		pool.AddCert(c)
		return pool, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), nil
	}
	return nil, nil, errors.New("no CA certificate from /cacerts matches --ca-fingerprint: refusing to trust this server")
}
