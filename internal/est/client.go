package est

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/wardproject/ward/internal/pki"
)

// Client is an EST client (RFC 7030), the device side of enrollment used by
// `ward enroll` and the simulator. The key never leaves the device: the
// client sends only the CSR.
type Client struct {
	// Server is the base URL, https://host:port.
	Server string
	// Roots are the trust anchors for the server certificate (the CA
	// fingerprint-checked ca.pem, or the bootstrap result of CACerts).
	Roots *x509.CertPool
	// HTTP, when set, is used as is (connection reuse in load tests).
	HTTP *http.Client
}

func (c *Client) client(cert *tls.Certificate) *http.Client {
	if c.HTTP != nil && cert == nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.ClientConfig(c.Roots, cert)}}
}

// NewDeviceKey generates a device key (ECDSA P-256).
func NewDeviceKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// NewCSR builds a DER PKCS#10 request for the device ID with key.
func NewCSR(id string, key crypto.Signer) ([]byte, error) {
	u, err := url.Parse(pki.DeviceURIPrefix + id)
	if err != nil {
		return nil, err
	}
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: id}, URIs: []*url.URL{u},
	}, key)
}

// CACerts fetches /cacerts and returns the CA certificates.
func (c *Client) CACerts(ctx context.Context) ([]*x509.Certificate, error) {
	body, err := c.do(ctx, nil, http.MethodGet, "/.well-known/est/cacerts", nil, "", "")
	if err != nil {
		return nil, err
	}
	return parseCertsOnly(body)
}

// Enroll sends a CSR to simpleenroll with HTTP Basic (id, token).
func (c *Client) Enroll(ctx context.Context, id, token string, csrDER []byte) (*x509.Certificate, error) {
	body, err := c.do(ctx, nil, http.MethodPost, "/.well-known/est/simpleenroll", csrDER, id, token)
	if err != nil {
		return nil, err
	}
	return firstCert(body)
}

// Reenroll sends a CSR to simplereenroll authenticated by the current certificate.
func (c *Client) Reenroll(ctx context.Context, current tls.Certificate, csrDER []byte) (*x509.Certificate, error) {
	body, err := c.do(ctx, &current, http.MethodPost, "/.well-known/est/simplereenroll", csrDER, "", "")
	if err != nil {
		return nil, err
	}
	return firstCert(body)
}

// ServerError is a refusal answered by the EST server. RetryAfter is the
// server's Retry-After (in seconds) on a 429 or 503, 0 when absent.
type ServerError struct {
	Status     int
	Message    string
	RetryAfter time.Duration
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("EST server answered %d: %s", e.Status, e.Message)
}

func (c *Client) do(ctx context.Context, cert *tls.Certificate, method, path string, csr []byte, user, pass string) ([]byte, error) {
	var body io.Reader
	if csr != nil {
		body = bytes.NewReader([]byte(base64.StdEncoding.EncodeToString(csr)))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Server+path, body)
	if err != nil {
		return nil, err
	}
	if csr != nil {
		req.Header.Set("Content-Type", "application/pkcs10")
		req.Header.Set("Content-Transfer-Encoding", "base64")
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.client(cert).Do(req)
	if err != nil {
		return nil, fmt.Errorf("EST %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("EST %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		se := &ServerError{Status: resp.StatusCode, Message: string(bytes.TrimSpace(data))}
		if n, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && n > 0 {
			se.RetryAfter = time.Duration(min(n, 86400)) * time.Second
		}
		return nil, se
	}
	der, err := base64.StdEncoding.DecodeString(string(bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' {
			return -1
		}
		return r
	}, data)))
	if err != nil {
		return nil, fmt.Errorf("EST %s: answer is not base64: %w", path, err)
	}
	return der, nil
}

func parseCertsOnly(der []byte) ([]*x509.Certificate, error) {
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#7: %w", err)
	}
	if len(p7.Certificates) == 0 {
		return nil, errors.New("PKCS#7 answer holds no certificate")
	}
	return p7.Certificates, nil
}

func firstCert(der []byte) (*x509.Certificate, error) {
	cs, err := parseCertsOnly(der)
	if err != nil {
		return nil, err
	}
	return cs[0], nil
}
