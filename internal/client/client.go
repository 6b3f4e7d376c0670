// Package client is the Go client of Ward's HTTPS API, used by the CLI and
// the fleet simulator. It speaks JSON to /api/v1 with a bearer token over
// TLS that trusts the CA file the operator names.
package client

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/buildinfo"
	"github.com/wardproject/ward/internal/pki"
)

// Options configure a Client. Server is required.
type Options struct {
	Server string // https://host:port
	Token  string
	// CAFile is a PEM file of roots to trust; empty: the system roots.
	CAFile string
	// Roots overrides CAFile when set.
	Roots   *x509.CertPool
	Timeout time.Duration // default 30s
}

// Client calls Ward's API.
type Client struct {
	base  string
	token string
	http  *http.Client
	// stream has no overall timeout: an event stream lasts (Follow
	// watches its heartbeats instead).
	stream *http.Client
}

// New returns a Client.
func New(opts Options) (*Client, error) {
	if opts.Server == "" {
		return nil, errors.New("client: Options.Server is required")
	}
	roots := opts.Roots
	if roots == nil && opts.CAFile != "" {
		var err error
		if roots, _, err = pki.ReadRoots(opts.CAFile); err != nil {
			return nil, err
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	tr := &http.Transport{TLSClientConfig: pki.ClientConfig(roots, nil), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16}
	return &Client{base: opts.Server, token: opts.Token, http: &http.Client{Transport: tr, Timeout: opts.Timeout}, stream: &http.Client{Transport: tr}}, nil
}

// Error is an error answered by the server.
type Error struct {
	Status    int    `json:"status"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

func (e *Error) Error() string {
	if e.RequestID != "" {
		return fmt.Sprintf("server answered %d: %s (request %s)", e.Status, e.Message, e.RequestID)
	}
	return fmt.Sprintf("server answered %d: %s", e.Status, e.Message)
}

// Do sends a JSON request and decodes a JSON answer into out (may be nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	_, err = c.send(req, method, path, out)
	return err
}

// GetPage fetches one page of a paged list into out and returns the path
// and query of the next page, from the answer's Link rel="next" header
// ("" on the last page).
func (c *Client) GetPage(ctx context.Context, path string, out any) (next string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return "", err
	}
	h, err := c.send(req, http.MethodGet, path, out)
	if err != nil {
		return "", err
	}
	return NextLink(h.Values("Link")), nil
}

// NextLink returns the target of the rel="next" link among Link header
// values (RFC 8288), "" when there is none. It reads the simple form
// servers write, `<target>; rel="next"`, possibly among other
// comma-separated links; a target must be a path ("/..."), so that a
// server cannot send the client's token to another host.
func NextLink(values []string) string {
	for _, v := range values {
		for link := range strings.SplitSeq(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(link), ";")
			target = strings.TrimSpace(target)
			if !ok || len(target) < 3 || target[0] != '<' || target[len(target)-1] != '>' {
				continue
			}
			target = target[1 : len(target)-1]
			if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") {
				continue
			}
			for p := range strings.SplitSeq(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(strings.TrimSpace(k), "rel") && slices.Contains(strings.Fields(strings.ToLower(strings.Trim(strings.TrimSpace(val), `"`))), "next") {
					return target
				}
			}
		}
	}
	return ""
}

func (c *Client) send(req *http.Request, method, path string, out any) (http.Header, error) {
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", buildinfo.UserAgent())
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return nil, fmt.Errorf("%s %s: %w (is the server running, and does --ca/WARD_CA name its ca.pem?)", method, path, uerr.Err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return nil, answerError(resp.StatusCode, data)
	}
	if p, ok := out.(*[]byte); ok {
		*p = data
		return resp.Header, nil
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// answerError is the *Error of a refusal with body data.
func answerError(status int, data []byte) *Error {
	e := &Error{Status: status}
	if json.Unmarshal(data, e) != nil || e.Message == "" {
		e.Message = string(bytes.TrimSpace(data))
	}
	return e
}

// answerError reads a refusal's body (bounded) into an *Error.
func (c *Client) answerError(resp *http.Response, method, path string) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return answerError(resp.StatusCode, data)
}

// Get fetches path into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.Do(ctx, http.MethodGet, path, nil, out)
}

// Post posts in to path and decodes into out.
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	return c.Do(ctx, http.MethodPost, path, in, out)
}

// DoRaw sends a raw body with a content type and decodes a JSON answer.
func (c *Client) DoRaw(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", buildinfo.UserAgent())
	_, err = c.send(req, method, path, out)
	return err
}

// Raw fetches path and returns the body as is (reports).
func (c *Client) Raw(ctx context.Context, path string) ([]byte, error) {
	var b []byte
	if err := c.Do(ctx, http.MethodGet, path, nil, &b); err != nil {
		return nil, err
	}
	return b, nil
}
