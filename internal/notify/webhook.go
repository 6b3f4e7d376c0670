package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/secret"
)

// Webhook headers.
const (
	HeaderSignature = "X-Ward-Signature" // "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body)
	HeaderTimestamp = "X-Ward-Timestamp" // Unix seconds when the request was signed
	HeaderEvent     = "X-Ward-Event"     // the change: raised, updated, acknowledged, cleared, mitigated
)

// MinSecretBytes is the shortest webhook secret accepted.
const MinSecretBytes = 16

// WebhookOptions configure a Webhook. URL and Secret are required.
type WebhookOptions struct {
	// Name is the sink's name in metrics, logs and dead letters; "" means
	// "webhook".
	Name string
	// URL receives the POSTs. It must be https, except for a receiver on
	// the loopback interface (http://127.0.0.1:…, http://localhost:…).
	URL string
	// Secret keys the HMAC signature; at least MinSecretBytes bytes.
	Secret secret.Value
	// TLS is the client TLS configuration; nil means the system roots.
	// TLS 1.2 is the floor; InsecureSkipVerify is refused.
	TLS *tls.Config
	// Timeout bounds one attempt (connect, TLS, request and response
	// headers); 0 means 10s.
	Timeout time.Duration
	// Version is Ward's version, sent as User-Agent ward/<Version>; ""
	// means "dev".
	Version string
	Now     func() time.Time // nil: time.Now; the signature timestamp
}

// Webhook is a Sink that POSTs each notification as JSON, signed with
// HMAC-SHA256 (see the package documentation for the receiver's side).
// It makes one attempt per Send; the Dispatcher retries. Statuses 408, 429
// and 5xx and network errors are retryable; other statuses and redirects
// are not (they come back as a *StatusError).
type Webhook struct {
	opts     WebhookOptions
	redacted string // opts.URL without user info, path or query, for errors
	client   *http.Client
	tr       *http.Transport
}

// NewWebhook checks opts and returns a Webhook.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	if opts.Name == "" {
		opts.Name = "webhook"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	u, err := checkWebhookURL(opts.Name, opts.URL)
	if err != nil {
		return nil, err
	}
	if len(opts.Secret.Reveal()) < MinSecretBytes {
		return nil, &ConfigError{Kind: "webhook", Name: opts.Name, Key: "secret_file",
			Problem: fmt.Sprintf("secret shorter than %d bytes", MinSecretBytes),
			Hint:    "generate one: head -c 32 /dev/urandom | base64 > secret; chmod 600 secret"}
	}
	tc, err := clientTLS(opts.TLS, "webhook", opts.Name)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &Webhook{
		opts:     opts,
		redacted: u.Scheme + "://" + u.Host,
		tr:       tr,
		client: &http.Client{
			Transport: tr,
			Timeout:   opts.Timeout,
			// A redirect would send the alert somewhere not configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// checkWebhookURL parses and checks a webhook URL.
func checkWebhookURL(name, raw string) (*url.URL, error) {
	bad := func(problem string) error {
		return &ConfigError{Kind: "webhook", Name: name, Key: "url", Problem: problem,
			Hint: "use https://host[:port]/path (http only to 127.0.0.1, ::1 or localhost)"}
	}
	if raw == "" {
		return nil, bad("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, bad("not a URL")
	}
	if u.Host == "" {
		return nil, bad("no host")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, bad("http is allowed only to a receiver on this host: alerts must not cross the network in clear")
		}
	default:
		return nil, bad(fmt.Sprintf("unsupported scheme %q", u.Scheme))
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Name returns the sink's name.
func (w *Webhook) Name() string { return w.opts.Name }

// Close closes idle connections.
func (w *Webhook) Close() error {
	w.tr.CloseIdleConnections()
	return nil
}

// Sign returns the value of the X-Ward-Signature header for body signed
// at timestamp (decimal Unix seconds): "sha256=" followed by the hex
// HMAC-SHA256 of timestamp + "." + body keyed with secret.
func Sign(key secret.Value, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key.Reveal()))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Send POSTs n once.
func (w *Webhook) Send(ctx context.Context, n alert.Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return Permanent(fmt.Errorf("encode notification: %w", err))
	}
	req, err := w.request(ctx, n, body)
	if err != nil {
		return Permanent(err)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which may hold a token; say only
		// scheme and host.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post to %s: %w", w.redacted, err)
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	se := &StatusError{Code: resp.StatusCode, Body: strings.ToValidUTF8(string(head), "\uFFFD")}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		se.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), w.opts.Now())
	}
	return fmt.Errorf("post to %s: %w", w.redacted, se)
}

// request builds the signed POST of body.
func (w *Webhook) request(ctx context.Context, n alert.Notification, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request to %s: %w", w.redacted, err)
	}
	ts := strconv.FormatInt(w.opts.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ward/"+w.opts.Version)
	req.Header.Set(HeaderEvent, string(n.Change))
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.opts.Secret, ts, body))
	return req, nil
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP
// date. It returns 0 for a missing, malformed or past value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
