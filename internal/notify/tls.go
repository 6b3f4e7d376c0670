package notify

import (
	"crypto/tls"
)

// clientTLS returns the TLS configuration of a sink: a clone of c with a
// TLS 1.2 floor, or, when c is nil, the system roots and TLS 1.2. It refuses
// a configuration that skips certificate verification: alerts would go to
// whoever answers. kind and name locate the sink in the error.
//
// Ward's pki package builds the tls.Config of Ward's own endpoints; a
// receiver outside Ward (a SIEM, a SOAR webhook) needs only a floor and
// the system roots, and pki's suite list (ECDSA only) would refuse the many
// receivers with RSA certificates on TLS 1.2.
func clientTLS(c *tls.Config, kind, name string) (*tls.Config, error) {
	if c == nil {
		return &tls.Config{MinVersion: tls.VersionTLS12}, nil
	}
	if c.InsecureSkipVerify {
		return nil, &ConfigError{Kind: kind, Name: name, Key: "tls", Problem: "InsecureSkipVerify is not allowed",
			Hint: "add the receiver's CA to RootCAs instead"}
	}
	c = c.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	return c, nil
}
