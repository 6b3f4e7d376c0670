package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/wardtest"
)

// forced is a client TLS configuration that presents cert whatever CAs the
// server's CertificateRequest names, as an attacker's client does (Go's
// crypto/tls would otherwise send no certificate of a CA outside the list).
func (w *ward) forced(cert *tls.Certificate) *tls.Config {
	cfg := pki.ClientConfig(w.srv.CA().RootPool(), nil)
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	return cfg
}

// reenroll posts a CSR for id to EST simplereenroll over cfg. It returns the
// HTTP status, or the transport error when the TLS handshake was refused.
func (w *ward) reenroll(t *testing.T, cfg *tls.Config, id string) (int, error) {
	t.Helper()
	key, _ := est.NewDeviceKey()
	csr, err := est.NewCSR(id, key)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "https://localhost:"+port(w.srv.HTTPSAddr())+"/.well-known/est/simplereenroll",
		bytes.NewReader([]byte(base64.StdEncoding.EncodeToString(csr))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/pkcs10")
	req.Header.Set("Content-Transfer-Encoding", "base64")
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: wait}).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// refusedTotal reads ward_gateway_refused_total{reason}.
func (w *ward) refusedTotal(t *testing.T, reason string) float64 {
	return wardtest.Counter(t, w.srv.registry, "ward_gateway_refused_total", "reason", reason)
}

// certificates returns the serials Ward recorded for a device.
func (w *ward) certificates(t *testing.T, id string) []store.Certificate {
	t.Helper()
	var certs []store.Certificate
	if err := w.api.Get(context.Background(), "/api/v1/certificates?device="+id, &certs); err != nil {
		t.Fatal(err)
	}
	return certs
}

// TestImportedCASiblingRefused is the attack on `ward serve --ca-cert
// issuing.pem --ca-key issuing.key` where issuing.pem carries the chain up
// to a corporate root: a sibling intermediate under the same root issues
// CN=sensor-1, with and without Ward's URI SAN. The real server refuses it
// at the MQTT handshake (unknown-ca) and at the TLS handshake of EST
// simplereenroll (no certificate is issued), while the device Ward
// enrolled connects and re-enrolls with Go's TLS client, which picks its
// certificate from the CertificateRequest's CA list.
func TestImportedCASiblingRefused(t *testing.T) {
	corp := wardtest.NewCorporatePKI(t, t.TempDir())
	t.Setenv("WARD_PKI_CA_CERT", corp.CertFile)
	t.Setenv("WARD_PKI_CA_KEY", corp.KeyFile)
	w := start(t, t.TempDir())
	if !w.srv.CA().Root().Equal(corp.Root) {
		t.Fatal("ca.pem is not the corporate root")
	}
	legit := w.enroll(t, "sensor-1")

	for _, uri := range []string{"sensor-1", ""} {
		forged := wardtest.DeviceCert(t, corp.Sibling, corp.SiblingKey, "sensor-1", uri, nil, corp.Sibling)
		before := w.refusedTotal(t, gwevent.ReasonUnknownCA)
		if c, err := w.connectTLS(w.forced(&forged), "sensor-1"); err == nil {
			c.Disconnect(0)
			t.Fatalf("MQTT admitted the sibling intermediate's certificate (URI SAN %q)", uri)
		}
		if got := w.refusedTotal(t, gwevent.ReasonUnknownCA); got <= before {
			t.Errorf("refused_total{unknown-ca} stayed at %v", got)
		}
		status, err := w.reenroll(t, w.forced(&forged), "sensor-1")
		if err == nil {
			t.Fatalf("EST simplereenroll completed the TLS handshake with the sibling's certificate (URI SAN %q): HTTP %d", uri, status)
		}
	}
	if n := len(w.certificates(t, "sensor-1")); n != 1 {
		t.Errorf("sensor-1 has %d certificates after the attack, want its own only", n)
	}

	c, err := w.connect(&legit, "sensor-1", nil)
	if err != nil {
		t.Fatalf("the device Ward enrolled is refused: %v", err)
	}
	c.Disconnect(0)
	key, _ := est.NewDeviceKey()
	csr, _ := est.NewCSR("sensor-1", key)
	if _, err := w.est.Reenroll(context.Background(), legit, csr); err != nil {
		t.Fatalf("the device Ward enrolled cannot re-enroll: %v", err)
	}
}

// TestUnrecordedCertificateRefused is the attack with Ward's own issuing
// key (read from the CA directory, as from a stolen backup): a certificate
// with sensor-1's URI SAN and CN that Ward never recorded is refused by the
// real server's gateway (unknown-certificate, recorded as an event of
// sensor-1) and by EST simplereenroll (the serial is checked in the store).
func TestUnrecordedCertificateRefused(t *testing.T) {
	dir := t.TempDir()
	w := start(t, dir)
	legit := w.enroll(t, "sensor-1")
	issuer, key := wardtest.IssuerKey(t, filepath.Join(dir, "ca"))
	forged := wardtest.DeviceCert(t, issuer, key, "sensor-1", "sensor-1", nil)

	if c, err := w.connectTLS(w.forced(&forged), "sensor-1"); err == nil {
		c.Disconnect(0)
		t.Fatal("MQTT admitted a certificate Ward never recorded")
	}
	if got := w.refusedTotal(t, gwevent.ReasonUnknownCertificate); got == 0 {
		t.Error("refused_total{unknown-certificate} = 0")
	}
	status, err := w.reenroll(t, w.forced(&forged), "sensor-1")
	if err == nil && status == http.StatusOK {
		t.Fatal("EST simplereenroll issued a certificate to a certificate Ward never recorded")
	}
	waitEvent(t, w, "sensor-1", "refused", gwevent.ReasonUnknownCertificate)

	c, err := w.connect(&legit, "sensor-1", nil)
	if err != nil {
		t.Fatalf("the device Ward enrolled is refused: %v", err)
	}
	c.Disconnect(0)
}

// waitEvent polls the API until the device has an event of kind with
// detail reason (the recorder writes events asynchronously; nothing to
// wait on from outside).
func waitEvent(t *testing.T, w *ward, id, kind, reason string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var v fleet.View
		if err := w.api.Get(context.Background(), "/api/v1/devices/"+id+"?events=50", &v); err != nil {
			t.Fatal(err)
		}
		if hasEvent(v.Events, kind, reason) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event with reason %q for %s: %+v", kind, reason, id, v.Events)
		}
		time.Sleep(50 * time.Millisecond) // polling the API
	}
}

// TestCNIdentitySetting: a certificate without a URI SAN (CN=sensor-1)
// that Ward recorded for sensor-1 is refused by default, at the MQTT
// gateway and at EST simplereenroll alike, and admitted by both with
// gateway.allow_cn_identity (WARD_GATEWAY_ALLOW_CN_IDENTITY) set: the two
// apply one rule (pki.CA.DeviceID).
func TestCNIdentitySetting(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("allow=", allow), func(t *testing.T) {
			t.Setenv("WARD_GATEWAY_ALLOW_CN_IDENTITY", fmt.Sprint(allow))
			dir := t.TempDir()
			w := start(t, dir)
			w.enroll(t, "sensor-1")
			issuer, key := wardtest.IssuerKey(t, filepath.Join(dir, "ca"))
			legacy := wardtest.DeviceCert(t, issuer, key, "sensor-1", "", nil)
			if err := w.srv.db.PutCertificate(context.Background(), store.Certificate{Serial: pki.SerialHex(legacy.Leaf.SerialNumber),
				DeviceID: "sensor-1", Subject: legacy.Leaf.Subject.String(), Kind: "device", NotBefore: legacy.Leaf.NotBefore,
				NotAfter: legacy.Leaf.NotAfter, DER: legacy.Leaf.Raw, IssuedAt: legacy.Leaf.NotBefore}); err != nil {
				t.Fatal(err)
			}
			c, err := w.connectTLS(w.forced(&legacy), "sensor-1")
			if err == nil {
				c.Disconnect(0)
			}
			if admitted := err == nil; admitted != allow {
				t.Errorf("MQTT admitted the recorded CN-only certificate: %v, want %v (%v)", admitted, allow, err)
			}
			status, err := w.reenroll(t, w.forced(&legacy), "sensor-1")
			if err != nil {
				t.Fatal(err)
			}
			if ok := status == http.StatusOK; ok != allow {
				t.Errorf("EST simplereenroll with the recorded CN-only certificate answered %d; want success %v", status, allow)
			}
		})
	}
}
