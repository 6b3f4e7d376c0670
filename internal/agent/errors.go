package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"syscall"
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
