package notify_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/notify"
	"github.com/wardproject/ward/internal/secret"
	"github.com/wardproject/ward/internal/wardtest"
)

const testSecret = secret.Value("0123456789abcdef-test-secret")

// received is one request as the receiver saw it.
type received struct {
	header http.Header
	body   []byte
	n      alert.Notification
}

// receiver is a webhook receiver: it verifies each request as the package
// documentation tells receivers to, records it, and answers with the next
// scripted status (200 once the script is used up).
type receiver struct {
	t   *testing.T
	now time.Time
	got chan received

	mu     sync.Mutex
	script []response
}

type response struct {
	status     int
	retryAfter string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "body", http.StatusBadRequest)
		return
	}
	// 1. Reject stale or future timestamps (replay protection).
	ts := r.Header.Get("X-Ward-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || rc.now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		rc.t.Errorf("receiver: stale or missing timestamp %q", ts)
		http.Error(w, "timestamp", http.StatusUnauthorized)
		return
	}
	// 2. HMAC-SHA256 over timestamp "." body, compared in constant time.
	mac := hmac.New(sha256.New, []byte(testSecret.Reveal()))
	mac.Write([]byte(ts + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Ward-Signature"))) {
		rc.t.Errorf("receiver: bad signature %q", r.Header.Get("X-Ward-Signature"))
		http.Error(w, "signature", http.StatusUnauthorized)
		return
	}
	var n alert.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		rc.t.Errorf("receiver: body is not a notification: %v", err)
	}
	rc.got <- received{header: r.Header.Clone(), body: body, n: n}
	rc.mu.Lock()
	resp := response{status: http.StatusOK}
	if len(rc.script) > 0 {
		resp, rc.script = rc.script[0], rc.script[1:]
	}
	rc.mu.Unlock()
	if resp.retryAfter != "" {
		w.Header().Set("Retry-After", resp.retryAfter)
	}
	w.WriteHeader(resp.status)
	fmt.Fprintf(w, "status %d\n", resp.status)
}

// newReceiver starts an HTTP (or HTTPS) receiver answering script.
func newReceiver(t *testing.T, useTLS bool, script ...response) (*receiver, *httptest.Server) {
	rc := &receiver{t: t, now: t0, got: make(chan received, 20), script: script}
	var srv *httptest.Server
	if useTLS {
		srv = httptest.NewTLSServer(rc)
	} else {
		srv = httptest.NewServer(rc)
	}
	t.Cleanup(srv.Close)
	return rc, srv
}

// newWebhook returns a Webhook to srv with the clock at t0.
func newWebhook(t *testing.T, srv *httptest.Server) *notify.Webhook {
	t.Helper()
	opts := notify.WebhookOptions{Name: "soc", URL: srv.URL + "/hooks/ward", Secret: testSecret, Version: "1.2.3",
		Now: func() time.Time { return t0 }}
	if srv.TLS != nil {
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		opts.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	w, err := notify.NewWebhook(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestWebhookSignedRequest(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			rc, srv := newReceiver(t, useTLS)
			w := newWebhook(t, srv)
			if err := w.Send(t.Context(), sample()); err != nil {
				t.Fatal(err)
			}
			r := recvTimeout(t, rc.got, "the webhook request")
			if d := cmp.Diff(sample(), r.n); d != "" {
				t.Errorf("received notification (-want +got):\n%s", d)
			}
			var hdr strings.Builder
			for _, k := range []string{"Content-Type", "User-Agent", "X-Ward-Event", "X-Ward-Signature", "X-Ward-Timestamp"} {
				fmt.Fprintf(&hdr, "%s: %s\n", k, r.header.Get(k))
			}
			wardtest.Golden(t, "testdata/webhook-headers.golden", []byte(hdr.String()))
			wardtest.Golden(t, "testdata/webhook-body.golden", append(r.body, '\n'))
		})
	}
}

func TestWebhookRetriesThenSucceeds(t *testing.T) {
	rc, srv := newReceiver(t, true,
		response{status: 500},
		response{status: 429, retryAfter: "7"},
		response{status: 503, retryAfter: "3600"}, // capped at MaxRetryAfter
	)
	var sl sleeps
	dl := make(chanDeadLetters, 1)
	d, err := notify.New(notify.Options{
		Routes:      []notify.Route{{Sink: newWebhook(t, srv)}},
		DeadLetters: dl, Backoff: fixedBackoff, Sleep: sl.Sleep, MaxRetryAfter: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	d.Notify(sample())
	for i := range 4 {
		r := recvTimeout(t, rc.got, fmt.Sprintf("attempt %d", i+1))
		if r.n.Alert.ID != "a-0001" {
			t.Fatalf("attempt %d delivered %s", i+1, r.n.Alert.ID)
		}
	}
	stop()
	if len(dl) != 0 {
		t.Errorf("dead letter written for a delivered notification: %+v", <-dl)
	}
	// backoff(1)=1s; Retry-After 7s beats backoff(2)=2s; 3600s is capped to 30s.
	if d := cmp.Diff([]time.Duration{time.Second, 7 * time.Second, 30 * time.Second}, sl.got()); d != "" {
		t.Errorf("delays (-want +got):\n%s", d)
	}
}

func TestWebhook400NotRetried(t *testing.T) {
	rc, srv := newReceiver(t, false, response{status: 400}, response{status: 500})
	dir := t.TempDir()
	var sl sleeps
	d, err := notify.New(notify.Options{
		Routes:        []notify.Route{{Sink: newWebhook(t, srv)}},
		DeadLetterDir: filepath.Join(dir, "dl"),
		Backoff:       fixedBackoff, Sleep: sl.Sleep,
		Now: func() time.Time { return t0.Add(time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	d.Notify(sample())
	recvTimeout(t, rc.got, "the request")
	stop() // the dead letter is written before Run returns
	if len(rc.got) != 0 || len(sl.got()) != 0 {
		t.Errorf("a 400 was retried")
	}
	recs := readDeadLetters(t, filepath.Join(dir, "dl", notify.DeadLetterFileName))
	if len(recs) != 1 {
		t.Fatalf("%d dead letters, want 1", len(recs))
	}
	r := recs[0]
	if r.Sink != "soc" || !r.Time.Equal(t0.Add(time.Hour)) || r.Notification.Alert.ID != "a-0001" {
		t.Errorf("dead letter %+v", r)
	}
	if want := "post to http://127.0.0.1:"; !strings.HasPrefix(r.Error, want) || !strings.Contains(r.Error, "HTTP 400") {
		t.Errorf("dead letter error %q, want it to name the receiver and the status", r.Error)
	}
	if strings.Contains(r.Error, "/hooks/ward") {
		t.Errorf("dead letter error %q reveals the URL path", r.Error)
	}
}

func TestWebhookExhaustedWritesDeadLetter(t *testing.T) {
	rc, srv := newReceiver(t, false, response{status: 502}, response{status: 502}, response{status: 502})
	dl := make(chanDeadLetters, 1)
	var sl sleeps
	d, err := notify.New(notify.Options{
		Routes:      []notify.Route{{Sink: newWebhook(t, srv), Retries: 2}},
		DeadLetters: dl, Backoff: fixedBackoff, Sleep: sl.Sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	d.Notify(sample())
	l := recvTimeout(t, dl, "the dead letter")
	if n := len(rc.got); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	var se *notify.StatusError
	if !errors.As(l.err, &se) || se.Code != 502 {
		t.Errorf("dead letter error %v, want a *StatusError 502", l.err)
	}
}

func TestWebhookNetworkErrorRedactsURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	w, err := notify.NewWebhook(notify.WebhookOptions{URL: "http://user:pw@" + addr + "/services/T0/B0/tok3n", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	err = w.Send(t.Context(), sample())
	if err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	for _, leak := range []string{"tok3n", "pw@"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q reveals %q", err, leak)
		}
	}
	var p interface{ Permanent() bool }
	if errors.As(err, &p) && p.Permanent() {
		t.Errorf("network error %v is marked permanent", err)
	}
}

func TestNewWebhookErrors(t *testing.T) {
	tests := []struct {
		name string
		opts notify.WebhookOptions
		want string
	}{
		{"no url", notify.WebhookOptions{Secret: testSecret}, "url: required"},
		{"http remote", notify.WebhookOptions{URL: "http://siem.example.com/x", Secret: testSecret}, "http is allowed only"},
		{"ftp", notify.WebhookOptions{URL: "ftp://siem.example.com/x", Secret: testSecret}, `unsupported scheme "ftp"`},
		{"short secret", notify.WebhookOptions{URL: "https://siem.example.com/x", Secret: "short"}, "secret shorter than 16 bytes"},
		{"insecure", notify.WebhookOptions{URL: "https://siem.example.com/x", Secret: testSecret,
			TLS: &tls.Config{InsecureSkipVerify: true}}, "InsecureSkipVerify is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := notify.NewWebhook(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSecretRedacted(t *testing.T) {
	opts := notify.WebhookOptions{URL: "https://x.example", Secret: testSecret}
	for _, s := range []string{fmt.Sprint(opts), fmt.Sprintf("%+v", opts), fmt.Sprintf("%#v", opts)} {
		if strings.Contains(s, testSecret.Reveal()) {
			t.Errorf("secret printed: %s", s)
		}
	}
}

// readDeadLetters reads a dead-letter file and checks its mode.
func readDeadLetters(t *testing.T, path string) []notify.DeadLetterRecord {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("dead-letter file mode %v, want 0600", st.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []notify.DeadLetterRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r notify.DeadLetterRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("dead-letter line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestDeadLetterFileRotates(t *testing.T) {
	dir := t.TempDir()
	f, err := notify.NewDeadLetterFile(notify.DeadLetterFileOptions{Dir: dir, MaxBytes: 200, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := f.DeadLetter(context.Background(), "s", withID(strconv.Itoa(i)), errors.New("down")); err != nil {
			t.Fatal(err)
		}
	}
	cur := readDeadLetters(t, f.Path())
	old := readDeadLetters(t, f.Path()+".1")
	var ids []string
	for _, r := range slices.Concat(old, cur) {
		ids = append(ids, r.Notification.Alert.ID)
	}
	// Each record is larger than MaxBytes: every write rotates, keeping the last two.
	if d := cmp.Diff([]string{"2", "3"}, ids); d != "" {
		t.Errorf("records kept (-want +got):\n%s", d)
	}
}

func TestDeadLetterFileRefusesOpenMode(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, notify.DeadLetterFileName), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := notify.NewDeadLetterFile(notify.DeadLetterFileOptions{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("error %v, want the chmod fix", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Duration
	}{
		{"seconds", "120", 2 * time.Minute},
		{"date", t0.Add(90 * time.Second).Format(http.TimeFormat), 90*time.Second - 123456789},
		{"past date", t0.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
		{"negative", "-5", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := notify.ParseRetryAfter(tt.in, t0); got != tt.want {
				t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
