package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/wardproject/ward/internal/gateway"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/wardtest"
)

// record stores c in the CA's store as Ward records a device certificate
// it issued for deviceID (as another cluster node would).
func (e *env) record(c tls.Certificate, deviceID string) {
	e.t.Helper()
	err := e.cs.PutCertificate(context.Background(), store.Certificate{Serial: pki.SerialHex(c.Leaf.SerialNumber), DeviceID: deviceID,
		Subject: c.Leaf.Subject.String(), Kind: "device", NotBefore: c.Leaf.NotBefore, NotAfter: c.Leaf.NotAfter, DER: c.Leaf.Raw})
	if err != nil {
		e.t.Fatal(err)
	}
}

// mustRefuse connects with cert and fails the test if it is admitted;
// then it waits for the refusal of device (empty: unattributed) with reason.
// The client presents cert whatever CAs the server's CertificateRequest
// names, as an attacker's client (or OpenSSL's) does; Go's crypto/tls would
// not send a certificate of a CA outside that list.
func (e *env) mustRefuse(what string, cert *tls.Certificate, clientID, device, reason string) {
	e.t.Helper()
	before := e.metric("ward_gateway_refused_total", reason)
	cfg := e.clientTLS(nil)
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	if _, err := e.connectTLS(cfg, clientID); err == nil {
		e.t.Fatalf("%s: admitted", what)
	}
	e.waitEvent(refused(device, reason))
	if got := e.metric("ward_gateway_refused_total", reason); got != before+1 {
		e.t.Errorf("%s: ward_gateway_refused_total{reason=%q} went from %v to %v, want +1", what, reason, before, got)
	}
}

// TestAdmissionSiblingIntermediate is the attack on an imported issuing CA:
// Ward signs with an intermediate of the operator's corporate root, and
// another intermediate under the same root (a VPN CA, say) issues
// CN=sensor-1, with and without Ward's URI SAN. Both are refused at the
// TLS handshake as unknown-ca, whatever chain they present; Ward's own
// device certificate still connects with or without its chain.
func TestAdmissionSiblingIntermediate(t *testing.T) {
	corp := wardtest.NewCorporatePKI(t, t.TempDir())
	e := newEnvCA(t, pki.Options{ImportCert: corp.CertFile, ImportKey: corp.KeyFile},
		&directory{devices: activeDevices("sensor-1")}, gateway.Limits{})
	if e.ca.Root().Equal(e.ca.Issuer()) || !e.ca.Root().Equal(corp.Root) {
		t.Fatal("the test CA is not an intermediate under the corporate root")
	}
	legit := issue(t, e.ca, "sensor-1")
	for _, chain := range []struct {
		name  string
		certs []*x509.Certificate
	}{{"leaf", nil}, {"leaf+issuer", []*x509.Certificate{e.ca.Issuer()}}, {"leaf+issuer+root", []*x509.Certificate{e.ca.Issuer(), corp.Root}}} {
		c := legit
		c.Certificate = [][]byte{legit.Leaf.Raw}
		for _, x := range chain.certs {
			c.Certificate = append(c.Certificate, x.Raw)
		}
		cl, err := e.connect(&c, "sensor-1:"+chain.name)
		if err != nil {
			t.Fatalf("Ward's own certificate presented as %s refused: %v", chain.name, err)
		}
		cl.c.Disconnect(0)
	}

	for _, uri := range []string{"sensor-1", ""} {
		for _, chain := range [][]*x509.Certificate{{corp.Sibling}, {corp.Sibling, corp.Root}} {
			forged := wardtest.DeviceCert(t, corp.Sibling, corp.SiblingKey, "sensor-1", uri, nil, chain...)
			e.mustRefuse("sibling intermediate's certificate (URI SAN "+uri+")", &forged, "sensor-1", "", gwevent.ReasonUnknownCA)
		}
	}
	// Even recorded by Ward (a serial collision staged in the store), a
	// certificate of the sibling never reaches the identity check.
	forged := wardtest.DeviceCert(t, corp.Sibling, corp.SiblingKey, "sensor-1", "sensor-1", nil, corp.Sibling)
	e.record(forged, "sensor-1")
	e.mustRefuse("recorded sibling certificate", &forged, "sensor-1", "", gwevent.ReasonUnknownCA)

	cl, err := e.connect(&legit, "sensor-1")
	if err != nil {
		t.Fatalf("the legitimate device is refused after the attack: %v", err)
	}
	cl.c.Disconnect(0)
}

// TestAdmissionUnrecordedSerial is the attack with Ward's own issuing key
// (read from the CA directory, as from a stolen backup): a certificate
// with the right URI SAN and CN that Ward never recorded is refused as
// unknown-certificate at the handshake, and so is one reusing the serial
// Ward recorded for another device.
func TestAdmissionUnrecordedSerial(t *testing.T) {
	e := newEnv(t, activeDevices("sensor-1", "sensor-2"), nil, gateway.Limits{})
	issuer, key := wardtest.IssuerKey(t, e.caDir)
	legit := issue(t, e.ca, "sensor-1")

	forged := wardtest.DeviceCert(t, issuer, key, "sensor-1", "sensor-1", nil)
	e.mustRefuse("unrecorded certificate signed with the issuer key", &forged, "sensor-1", "sensor-1", gwevent.ReasonUnknownCertificate)

	// sensor-2's identity with sensor-1's recorded serial.
	stolen := wardtest.DeviceCert(t, issuer, key, "sensor-2", "sensor-2", legit.Leaf.SerialNumber)
	e.mustRefuse("serial recorded for another device", &stolen, "sensor-2", "sensor-2", gwevent.ReasonUnknownCertificate)

	cl, err := e.connect(&legit, "sensor-1")
	if err != nil {
		t.Fatalf("the legitimate device is refused: %v", err)
	}
	cl.c.Disconnect(0)
}

// TestAdmissionLearnsRecordedSerial: a certificate recorded in the store by
// another node (here: another CA instance on the same store) is admitted at
// its first connection, by one re-read of the store. An unknown serial is
// re-read at most once per LookupInterval: recorded meanwhile, it is still
// refused until the interval has passed.
func TestAdmissionLearnsRecordedSerial(t *testing.T) {
	e := newEnv(t, activeDevices("sensor-1", "sensor-2"), nil, gateway.Limits{})
	other, err := pki.Open(context.Background(), pki.Options{Dir: e.caDir, Store: e.cs})
	if err != nil {
		t.Fatal(err)
	}
	viaOther := issue(t, other, "sensor-1")
	if e.ca.Issued(viaOther.Leaf.SerialNumber, "sensor-1") {
		t.Fatal("the gateway's CA knew the other node's certificate before any re-read")
	}
	cl, err := e.connect(&viaOther, "sensor-1")
	if err != nil {
		t.Fatalf("a certificate recorded by another node is refused: %v", err)
	}
	cl.c.Disconnect(0)

	issuer, key := wardtest.IssuerKey(t, e.caDir)
	late := wardtest.DeviceCert(t, issuer, key, "sensor-2", "sensor-2", nil)
	e.mustRefuse("not yet recorded", &late, "sensor-2", "sensor-2", gwevent.ReasonUnknownCertificate)
	e.record(late, "sensor-2")
	e.mustRefuse("recorded within LookupInterval of the last re-read", &late, "sensor-2", "sensor-2", gwevent.ReasonUnknownCertificate)
	e.clock.Advance(gateway.LookupInterval)
	cl, err = e.connect(&late, "sensor-2")
	if err != nil {
		t.Fatalf("recorded certificate refused after LookupInterval: %v", err)
	}
	cl.c.Disconnect(0)
}

// TestAdmissionCNIdentity: a CN-only certificate (no URI SAN) that Ward
// recorded is refused by default and admitted only with AllowCNIdentity;
// even then an unrecorded one, one recorded for another device, and one
// whose URI SAN and CN name different devices are refused.
func TestAdmissionCNIdentity(t *testing.T) {
	for _, allow := range []bool{false, true} {
		e := newEnvCA(t, pki.Options{AllowCNIdentity: allow}, &directory{devices: activeDevices("sensor-1", "sensor-2")}, gateway.Limits{})
		issuer, key := wardtest.IssuerKey(t, e.caDir)
		cnOnly := wardtest.DeviceCert(t, issuer, key, "sensor-1", "", nil)
		e.record(cnOnly, "sensor-1")
		if !allow {
			e.mustRefuse("recorded CN-only certificate, setting off", &cnOnly, "sensor-1", "", gwevent.ReasonUnknownDevice)
		} else {
			cl, err := e.connect(&cnOnly, "sensor-1")
			if err != nil {
				t.Fatalf("recorded CN-only certificate refused with AllowCNIdentity: %v", err)
			}
			cl.c.Disconnect(0)
			unrecorded := wardtest.DeviceCert(t, issuer, key, "sensor-1", "", nil)
			e.mustRefuse("unrecorded CN-only certificate", &unrecorded, "sensor-1", "sensor-1", gwevent.ReasonUnknownCertificate)
			otherDevice := wardtest.DeviceCert(t, issuer, key, "sensor-1", "", nil)
			e.record(otherDevice, "sensor-2")
			e.mustRefuse("CN-only certificate recorded for another device", &otherDevice, "sensor-1", "sensor-1", gwevent.ReasonUnknownCertificate)
		}
		mixed := wardtest.DeviceCert(t, issuer, key, "sensor-2", "sensor-1", nil)
		e.record(mixed, "sensor-1")
		e.mustRefuse("URI SAN sensor-1 with CN sensor-2", &mixed, "sensor-1", "", gwevent.ReasonUnknownDevice)
	}
}
