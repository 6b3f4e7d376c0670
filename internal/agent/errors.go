package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"
)

// ErrRefused marks an order the agent will not carry out (rollback, another
// model, below min_version, not signed...). The wrapped message says why.
var ErrRefused = errors.New("refused")

// Explain rewords a connection error for the person who reads the log:
// which of TLS, the port, the server's certificate or the device's own
// certificate is wrong. The original error is kept at the end.
func Explain(err error) string {
	if err == nil {
		return ""
	}
	var hdr tls.RecordHeaderError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var alert tls.AlertError
	msg := err.Error()
	switch {
	case errors.As(err, &hdr), strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return "the server does not speak TLS on this port (wrong port? Ward serves EST and TUF on 8443 and MQTT on 8883): " + msg
	case errors.As(err, &unknown):
		return "the server's certificate is not signed by Ward's CA in ca.pem (wrong server, or a machine in the middle): " + msg
	case errors.As(err, &hostname):
		return "the server's certificate does not name this host (use the host name the server was set up with): " + msg
	case errors.As(err, &invalid):
		return "the server's certificate is invalid (expired, or the device clock is wrong): " + msg
	case errors.As(err, &alert), strings.Contains(msg, "remote error: tls:"):
		if strings.Contains(msg, "revoked") {
			return "the server refused this device's certificate: it is revoked (re-enroll with a new token: ward enroll): " + msg
		}
		if strings.Contains(msg, "expired") {
			return "the server refused this device's certificate: it has expired (re-enroll with a new token: ward enroll): " + msg
		}
		return "the server refused the TLS handshake (this device's certificate revoked, expired or from another CA?): " + msg
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens at this address (server down, or wrong host or port): " + msg
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "the server's host name does not resolve: " + msg
	}
	return msg
}

// errHTTPOnMQTTPort is the gateway address answering HTTP: the operator
// gave Ward's HTTPS port (8443) as --mqtt-addr.
var errHTTPOnMQTTPort = errors.New("the server answered HTTP, not MQTT: this is an HTTPS port (Ward serves MQTT on 8883 and EST, TUF and the API on 8443)")

// diagnose explains a failed gateway connection like Explain and says
// whether the cause is permanent (this device's certificate is revoked,
// expired or from another CA: retrying will not help until it is
// re-enrolled). A refused handshake is told apart with what the device
// knows about its own certificate: expired, or not chaining to ca.pem
// (through the issuing CA the gateway presented, peer), else revoked by
// the server.
func diagnose(err error, id *Identity, roots *x509.CertPool, peer []*x509.Certificate, caFile string, now time.Time) (string, bool) {
	msg := err.Error()
	var unknown x509.UnknownAuthorityError
	switch {
	case errors.Is(err, errHTTPOnMQTTPort):
		return msg, false
	case errors.As(err, &unknown):
		return "the gateway's certificate is not signed by the CA in " + caFile + " (wrong server, or a machine in the middle): " + msg, false
	case strings.Contains(msg, "remote error: tls:"):
		leaf := id.Leaf()
		switch {
		case leaf != nil && now.After(leaf.NotAfter):
			return fmt.Sprintf("the gateway refused this device's certificate: it expired at %s (re-enroll with a new token: ward enroll): %s", leaf.NotAfter.UTC().Format(time.RFC3339), msg), true
		case leaf != nil && !chainsTo(leaf, peer, roots, now):
			return "the gateway refused this device's certificate: it is not from the CA in " + caFile + " (enrolled with another server? re-enroll: ward enroll): " + msg, true
		case strings.Contains(msg, "bad certificate"), strings.Contains(msg, "revoked"):
			return "the gateway refused this device's certificate, which is unexpired and from this CA: the server no longer admits the device, it is revoked (or retired, or quarantined; ward device show " + id.ID() + " tells; a revoked device re-enrolls with a new token: ward enroll): " + msg, true
		}
	}
	return Explain(err), false
}

// chainsTo reports whether leaf chains to roots at now, through the CA
// certificates the gateway presented (Ward's issuing CA).
func chainsTo(leaf *x509.Certificate, peer []*x509.Certificate, roots *x509.CertPool, now time.Time) bool {
	inter := x509.NewCertPool()
	for _, c := range peer {
		if c.IsCA {
			inter.AddCert(c)
		}
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}
