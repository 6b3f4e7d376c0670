package pki

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"
)

// TestClientCAsIssuerOnly: the MQTT and HTTPS listeners verify client
// certificates against the issuing CA alone, not the root (with an imported
// CA, the root of every other corporate intermediate), while the server
// still sends its chain up to the issuing CA.
func TestClientCAsIssuerOnly(t *testing.T) {
	ca := newCA(t, t.TempDir(), openStore(t), "")
	crt, key, err := ca.ServerCertificate(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := x509.NewCertPool()
	want.AddCert(ca.Issuer())
	for name, cfg := range map[string]*tls.Config{"mqtt": ca.MQTTConfig(crt, key, nil), "https": ca.HTTPSConfig(crt, key)} {
		if !cfg.ClientCAs.Equal(want) {
			t.Errorf("%s: ClientCAs is not the issuing CA alone", name)
		}
		if ch := cfg.Certificates[0].Certificate; len(ch) != 2 || !bytes.Equal(ch[1], ca.Issuer().Raw) {
			t.Errorf("%s: the server sends %d certificates, want its own and the issuing CA", name, len(ch))
		}
	}
}
