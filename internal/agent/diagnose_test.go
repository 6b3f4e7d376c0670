package agent

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/wardtest"
)

// TestDiagnoseRefusedHandshake: a gateway's bad_certificate alert is told
// apart with what the device knows of its own certificate: expired (by
// the device's clock), from another CA than ca.pem, or else revoked by
// the server; each is permanent. An untrusted gateway names the CA file,
// and an HTTP answer names the port.
func TestDiagnoseRefusedHandshake(t *testing.T) {
	p := wardtest.NewCorporatePKI(t, t.TempDir())
	roots := x509.NewCertPool()
	roots.AddCert(p.Root)
	ours := &Identity{cert: wardtest.DeviceCert(t, p.Issuing, p.IssuingKey, "d-1", "d-1", nil)}
	sibling := &Identity{cert: wardtest.DeviceCert(t, p.Sibling, p.SiblingKey, "d-1", "d-1", nil)}
	gateway := []*x509.Certificate{p.Issuing} // the issuing CA the gateway presents
	alert := fmt.Errorf("network Error : %w", errors.New("remote error: tls: bad certificate"))
	now := time.Now()
	tests := []struct {
		name          string
		err           error
		id            *Identity
		now           time.Time
		want          string
		wantPermanent bool
	}{
		{"revoked", alert, ours, now, "it is revoked", true},
		{"expired", alert, ours, now.Add(48 * time.Hour), "it expired at", true},
		{"another CA", alert, sibling, now, "not from the CA in /etc/ward/ca.pem", true},
		{"HTTPS port", fmt.Errorf("network Error : %w", errHTTPOnMQTTPort), ours, now, "this is an HTTPS port", false},
		{"untrusted gateway", x509.UnknownAuthorityError{}, ours, now, "not signed by the CA in /etc/ward/ca.pem", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, permanent := diagnose(tt.err, tt.id, roots, gateway, "/etc/ward/ca.pem", tt.now)
			if !strings.Contains(got, tt.want) || permanent != tt.wantPermanent {
				t.Errorf("diagnose = %q, permanent %v; want %q, permanent %v", got, permanent, tt.want, tt.wantPermanent)
			}
		})
	}
}
