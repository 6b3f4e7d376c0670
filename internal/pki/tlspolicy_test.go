package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
)

// probeCert issues a device certificate with a fresh key.
func probeCert(t *testing.T, ca *CA, id string) tls.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.ParseCertificateRequest(csrFor(t, id, k))
	if err != nil {
		t.Fatal(err)
	}
	crt, err := ca.SignDevice(context.Background(), id, csr)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{crt.Raw}, PrivateKey: k, Leaf: crt}
}

// TestTLSPolicyRefusesDowngrade is the downgrade attack against both
// listeners' configurations: a client limited to TLS 1.0/1.1, or to TLS
// 1.2 with CBC or RSA key exchange only, gets no handshake; TLS 1.3 is
// what a modern client negotiates.
func TestTLSPolicyRefusesDowngrade(t *testing.T) {
	ca := newCA(t, t.TempDir(), openStore(t), "")
	crt, key, err := ca.IssueServer(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	configs := map[string]*tls.Config{
		"https": ca.HTTPSConfig(crt, key),
		"mqtt":  ca.MQTTConfig(crt, key, nil),
	}
	clients := []struct {
		name    string
		cfg     *tls.Config
		wantVer uint16 // 0: the handshake must fail
	}{
		{"tls1.0", &tls.Config{MaxVersion: tls.VersionTLS10}, 0},
		{"tls1.1", &tls.Config{MaxVersion: tls.VersionTLS11}, 0},
		{"tls1.2-cbc-only", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}}, 0},
		{"tls1.2-rsa-kx-only", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}}, 0},
		{"tls1.2-aead", &tls.Config{MaxVersion: tls.VersionTLS12}, tls.VersionTLS12},
		{"default", &tls.Config{}, tls.VersionTLS13},
	}
	for name, srvCfg := range configs {
		for _, c := range clients {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				cfg := c.cfg.Clone()
				cfg.RootCAs = ca.RootPool()
				cfg.ServerName = "localhost"
				if name == "mqtt" { // the gateway requires a client certificate
					cfg.Certificates = []tls.Certificate{probeCert(t, ca, "tls-probe")}
				}
				cli, srv := net.Pipe()
				defer cli.Close()
				defer srv.Close()
				// Each side closes its end when its handshake fails, so
				// the other (blocked on the synchronous pipe) returns.
				done := make(chan error, 1)
				go func() {
					err := tls.Server(srv, srvCfg).Handshake()
					if err != nil {
						srv.Close()
					}
					done <- err
				}()
				cc := tls.Client(cli, cfg)
				err := cc.Handshake()
				if err != nil {
					cli.Close()
				}
				srvErr := <-done
				if c.wantVer == 0 {
					if err == nil && srvErr == nil {
						t.Fatalf("handshake succeeded with version %#x", cc.ConnectionState().Version)
					}
					return
				}
				if err != nil || srvErr != nil {
					t.Fatalf("handshake failed: client %v, server %v", err, srvErr)
				}
				if v := cc.ConnectionState().Version; v != c.wantVer {
					t.Errorf("negotiated %#x, want %#x", v, c.wantVer)
				}
			})
		}
	}
}
