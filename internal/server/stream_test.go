package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/secret"
	"github.com/wardproject/ward/internal/store"
)

// sse is a live stream opened on a real server, read by the CLI's parser.
type sse struct {
	resp   *http.Response
	events chan client.Event
	end    chan error // the reader's last error (io.EOF: the server ended it)
	cancel context.CancelFunc
}

// streamClient is an HTTPS client of w (HTTP/2, as a browser would use).
func (w *ward) streamClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	tr := &http.Transport{TLSClientConfig: pki.ClientConfig(w.srv.CA().RootPool(), nil), ForceAttemptHTTP2: true, DialContext: dial}
	if dial != nil {
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // HTTP/1.1: one TCP connection per stream
	}
	return &http.Client{Transport: tr}
}

// openRaw opens GET /api/v1/stream?query with token (a bearer token, or
// "ward_session=..." for a browser's cookie) and Last-Event-ID lastID,
// without reading it.
func (w *ward) openRaw(t *testing.T, hc *http.Client, token, query, lastID string) *sse {
	t.Helper()
	if hc == nil {
		hc = w.streamClient(nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", w.baseURL()+"/api/v1/stream?"+query, nil)
	switch {
	case strings.HasPrefix(token, api.SessionCookie+"="): // a browser's EventSource: the cookie, no header
		req.Header.Set("Cookie", token)
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &sse{resp: resp, cancel: cancel}
	t.Cleanup(s.close)
	return s
}

// openStream opens a stream (see openRaw) and reads its events.
func (w *ward) openStream(t *testing.T, hc *http.Client, token, query, lastID string) *sse {
	t.Helper()
	s := w.openRaw(t, hc, token, query, lastID)
	if s.resp.StatusCode != http.StatusOK {
		return s
	}
	resp := s.resp
	s.events, s.end = make(chan client.Event, 4096), make(chan error, 1)
	go func() {
		p := client.NewSSEReader(resp.Body)
		for {
			e, err := p.Next()
			if err != nil {
				s.end <- err
				close(s.events)
				return
			}
			s.events <- e
		}
	}()
	return s
}

func (s *sse) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event of the stream.
func (s *sse) next(t *testing.T) client.Event {
	t.Helper()
	select {
	case e, ok := <-s.events:
		if !ok {
			t.Fatalf("stream ended: %v", <-s.end)
		}
		return e
	case <-time.After(wait):
		t.Fatal("no stream event")
	}
	return client.Event{}
}

// until returns the first event for which match is true, skipping others.
func (s *sse) until(t *testing.T, what string, match func(client.Event) bool) client.Event {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				t.Fatalf("stream ended before %s: %v", what, <-s.end)
			}
			if match(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s on the stream", what)
		}
	}
}

// ended waits for the server to end the stream.
func (s *sse) ended(t *testing.T, what string) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("%s: the stream is still open", what)
		}
	}
}

func deviceEvent(t *testing.T, e client.Event) store.Event {
	t.Helper()
	var ev store.Event
	if err := json.Unmarshal(e.Data, &ev); err != nil {
		t.Fatalf("event %s: %v", e, err)
	}
	return ev
}

func alertChange(t *testing.T, e client.Event) alert.Notification {
	t.Helper()
	var n alert.Notification
	if err := json.Unmarshal(e.Data, &n); err != nil {
		t.Fatalf("event %s: %v", e, err)
	}
	return n
}

func isDevice(kind, id string) func(client.Event) bool {
	return func(e client.Event) bool {
		var ev store.Event
		return e.Type == "device" && json.Unmarshal(e.Data, &ev) == nil && ev.Kind == kind && ev.DeviceID == id
	}
}

// viewerToken creates an API token of role (any role: the store takes it
// as given) and returns its text and ID.
func (w *ward) roleToken(t *testing.T, role store.Role, ttl time.Duration) (string, string) {
	t.Helper()
	id, err := secret.NewID(8)
	if err != nil {
		t.Fatal(err)
	}
	sec, _ := secret.New()
	now := w.srv.opts.Now()
	if err := w.srv.db.PutAPIToken(context.Background(), store.APIToken{ID: id, Name: "stream-test", Role: role, Hash: secret.Hash(sec.Reveal()),
		CreatedAt: now.UTC(), ExpiresAt: now.Add(ttl).UTC()}); err != nil {
		t.Fatal(err)
	}
	return "ward_" + id + "_" + sec.Reveal(), id
}

// TestStreamEndToEnd: on a real server, a viewer's stream shows a device
// registered, enrolled and connected over MQTT (device events), its ACL
// denials (event events), the alert a simulated attack raises and its
// acknowledgement through the API (alert events), in that order.
func TestStreamEndToEnd(t *testing.T) {
	w := startManual(t, "")
	ctx := context.Background()
	viewer, _ := w.roleToken(t, store.RoleViewer, time.Hour)
	s := w.openStream(t, nil, viewer, "", "")
	if s.resp.StatusCode != http.StatusOK || s.resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /api/v1/stream: %d %s", s.resp.StatusCode, s.resp.Header.Get("Content-Type"))
	}
	if err := w.api.DoRaw(ctx, "PUT", "/api/v1/profiles", "application/yaml", []byte(`name: strict
rules:
  - {name: authz-failures, metric: authz_failures, comparison: ">", value: 5, severity: high, mitigation: quarantine, mitre: [T1110]}
`), nil); err != nil {
		t.Fatal(err)
	}
	cert := w.enroll(t, "sensor-s")
	s.until(t, "registered", isDevice("registered", "sensor-s"))
	if e := s.until(t, "enrolled", isDevice("enrolled", "sensor-s")); deviceEvent(t, e).Detail["serial"] != pki.SerialHex(cert.Leaf.SerialNumber) {
		t.Errorf("enrolled event %s does not name the certificate", e)
	}
	dev, err := w.connect(&cert, "sensor-s", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Disconnect(0)
	s.until(t, "connected", isDevice("connected", "sensor-s"))
	for i := range 8 {
		dev.publish(t, fmt.Sprintf("devices/other-%d/cmd", i), "x")
	}
	denied := s.until(t, "acl-denied", func(e client.Event) bool { return e.Type == "event" })
	if ev := deviceEvent(t, denied); ev.Kind != "acl-denied" || ev.DeviceID != "sensor-s" {
		t.Errorf("first event-type event: %+v, want sensor-s's acl-denied", ev)
	}
	end := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
	if err := w.srv.Detect().CloseWindow(ctx, end); err != nil {
		t.Fatal(err)
	}
	raised := alertChange(t, s.until(t, "the alert", func(e client.Event) bool { return e.Type == "alert" }))
	if raised.Change != alert.Raised || raised.Alert.Device != "sensor-s" || raised.Alert.Rule != "authz-failures" || raised.Alert.Severity != alert.High {
		t.Fatalf("alert event %+v", raised)
	}
	if err := w.api.Post(ctx, "/api/v1/alerts/"+raised.Alert.ID+"/ack", nil, nil); err != nil {
		t.Fatal(err)
	}
	acked := alertChange(t, s.until(t, "the acknowledgement", func(e client.Event) bool { return e.Type == "alert" }))
	if acked.Change != alert.Acknowledge || acked.Alert.ID != raised.Alert.ID || acked.Alert.State != alert.Acknowledged {
		t.Errorf("after the ack: %+v", acked)
	}
	// The device filter: another device's quarantine is not on a stream
	// of sensor-s, this device's is.
	w.enroll(t, "sensor-t")
	only := w.openStream(t, nil, viewer, "device=sensor-s&types=device", "")
	for _, id := range []string{"sensor-t", "sensor-s"} {
		if err := w.api.Post(ctx, "/api/v1/devices/"+id+"/quarantine", api.ReasonRequest{Reason: "test"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if ev := deviceEvent(t, only.next(t)); ev.DeviceID != "sensor-s" || ev.Kind != "quarantined" {
		t.Errorf("device=sensor-s stream's first event: %+v, want sensor-s quarantined", ev)
	}
	if ev := deviceEvent(t, only.next(t)); ev.DeviceID != "sensor-s" || ev.Kind != "disconnected" {
		t.Errorf("device=sensor-s stream's second event: %+v, want sensor-s disconnected", ev)
	}
}

// TestStreamAuth: no token, a wrong token and the provisioning role are
// refused (401, 401, 403); a revoked token's open stream ends at once; an
// expired token's stream ends at the next re-check (on the server's
// clock); the per-token limit answers 429.
func TestStreamAuth(t *testing.T) {
	clk := &testClock{t: time.Now()}
	t.Setenv("WARD_STREAM_MAX_PER_PRINCIPAL", "2")
	w := startWith(t, t.TempDir(), Options{Now: clk.Now, streamRecheck: 20 * time.Millisecond})
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "ward_0123456789abcdef_nope", http.StatusUnauthorized},
	} {
		if s := w.openStream(t, nil, tc.token, "", ""); s.resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, s.resp.StatusCode, tc.want)
		}
	}
	prov, _ := w.roleToken(t, store.RoleProvisioning, time.Hour)
	if s := w.openStream(t, nil, prov, "", ""); s.resp.StatusCode != http.StatusForbidden {
		t.Errorf("provisioning role: %d, want 403", s.resp.StatusCode)
	}
	viewer, _ := w.roleToken(t, store.RoleViewer, time.Hour)
	if s := w.openStream(t, nil, viewer, "types=alerts", ""); s.resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown type: %d, want 400", s.resp.StatusCode)
	}

	// Revocation through the API ends the token's streams at once.
	victim, victimID := w.roleToken(t, store.RoleViewer, time.Hour)
	s1 := w.openStream(t, nil, victim, "", "")
	s2 := w.openStream(t, nil, victim, "types=alert", "")
	if s := w.openStream(t, nil, victim, "", ""); s.resp.StatusCode != http.StatusTooManyRequests || s.resp.Header.Get("Retry-After") == "" {
		t.Errorf("third stream of one token: %d, want 429 with Retry-After", s.resp.StatusCode)
	}
	other := w.openStream(t, nil, viewer, "", "")
	if err := w.api.Do(context.Background(), "DELETE", "/api/v1/tokens/"+victimID, nil, nil); err != nil {
		t.Fatal(err)
	}
	s1.ended(t, "revoked token")
	s2.ended(t, "revoked token")
	w.enroll(t, "sensor-u") // the other token's stream goes on
	other.until(t, "registered", isDevice("registered", "sensor-u"))
	if s := w.openStream(t, nil, victim, "", ""); s.resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token reconnecting: %d, want 401", s.resp.StatusCode)
	}

	// Expiry: the re-check on the server's clock ends the stream.
	short, _ := w.roleToken(t, store.RoleViewer, time.Hour)
	s3 := w.openStream(t, nil, short, "", "")
	w.enroll(t, "sensor-v")
	s3.until(t, "registered", isDevice("registered", "sensor-v"))
	clk.Add(2 * time.Hour)
	s3.ended(t, "expired token")
}

// signIn signs a user in and returns the browser's cookie
// ("ward_session=...") or the CLI's session token.
func (w *ward) signIn(t *testing.T, user, pass, clientKind string) string {
	t.Helper()
	b, _ := json.Marshal(api.LoginRequest{Username: user, Password: pass, Client: clientKind})
	resp, err := w.streamClient(nil).Post(w.baseURL()+"/api/v1/session", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sr api.SessionResponse
	if err := json.NewDecoder(resp.Body).Decode(&sr); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("sign in %s: %d %v", user, resp.StatusCode, err)
	}
	if clientKind == "cli" {
		return sr.Token
	}
	for _, c := range resp.Cookies() {
		if c.Name == api.SessionCookie {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// TestStreamSessions: a browser's session cookie opens the stream as
// EventSource sends it (GET, cookie, no header); signing out ends it at
// once, and so does disabling the user for a CLI session's stream; a
// signed-out cookie is refused.
func TestStreamSessions(t *testing.T) {
	w := start(t, t.TempDir())
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		if err := w.api.Post(ctx, "/api/v1/users", api.CreateUserRequest{Name: u, Role: store.RoleViewer, Password: "a long enough password"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	cookie := w.signIn(t, "alice", "a long enough password", "browser")
	browser := w.openStream(t, nil, cookie, "", "")
	if browser.resp.StatusCode != http.StatusOK {
		t.Fatalf("stream with the session cookie: %d", browser.resp.StatusCode)
	}
	w.enroll(t, "sensor-w")
	browser.until(t, "registered", isDevice("registered", "sensor-w"))
	cli := w.openStream(t, nil, w.signIn(t, "bob", "a long enough password", "cli"), "", "")
	// Sign-out (with the cookie and its CSRF token, as the console does).
	req, _ := http.NewRequest("GET", w.baseURL()+"/api/v1/session", nil)
	req.Header.Set("Cookie", cookie)
	resp, err := w.streamClient(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sr api.SessionResponse
	json.NewDecoder(resp.Body).Decode(&sr)
	resp.Body.Close()
	req, _ = http.NewRequest("DELETE", w.baseURL()+"/api/v1/session", nil)
	req.Header.Set("Cookie", cookie)
	req.Header.Set(api.CSRFHeader, sr.CSRFToken)
	if resp, err = w.streamClient(nil).Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("sign out: %v %v", resp.StatusCode, err)
	}
	browser.ended(t, "signed-out session")
	if s := w.openStream(t, nil, cookie, "", ""); s.resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed-out cookie: %d, want 401", s.resp.StatusCode)
	}
	if err := w.api.Post(ctx, "/api/v1/users/bob/disable", nil, nil); err != nil {
		t.Fatal(err)
	}
	cli.ended(t, "disabled user")
}

// TestStreamSlowConsumer: a client that never reads does not delay the
// events of another client: the fast one gets every alert change as it
// is made while the slow one is stuck, and the slow one is dropped with
// a final overflow event after what was buffered for it, and counted.
func TestStreamSlowConsumer(t *testing.T) {
	t.Setenv("WARD_STREAM_BUFFER", "4")
	w := start(t, t.TempDir())
	tok, _ := w.roleToken(t, store.RoleViewer, time.Hour)
	// The slow client's socket takes 4 KiB: the server's writes to it
	// block as soon as the kernel's buffers are full.
	small := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			return errors.Join(err, serr)
		}}
		return d.DialContext(ctx, network, addr)
	}
	slow := w.openRaw(t, w.streamClient(small), tok, "types=alert", "")
	if slow.resp.StatusCode != http.StatusOK {
		t.Fatalf("slow client: %d", slow.resp.StatusCode)
	}
	fast := w.openStream(t, nil, tok, "types=alert", "")
	dropped := func() float64 { return metricValue(t, w, "ward_stream_dropped_clients_total") }
	// Big alerts (32 KiB of evidence each) fill the slow client's buffers
	// in a few dozen changes; each is raised only once the fast client has
	// the previous one, so the fast client is never the slow one.
	big := strings.Repeat("x", 32<<10)
	ctx := context.Background()
	n := 0
	for ; dropped() == 0; n++ {
		if n == 3000 {
			t.Fatal("3000 alert changes (96 MiB) and the client that reads nothing was not dropped")
		}
		a, err := w.srv.Alerts().Raise(ctx, alert.Alert{Device: "sensor-flood", Rule: "flood", Severity: alert.High, Description: big})
		if err != nil {
			t.Fatal(err)
		}
		if got := alertChange(t, fast.next(t)); got.Alert.Count != n+1 || got.Alert.ID != a.ID {
			t.Fatalf("fast client's event %d: count %d of %s, want %d of %s", n, got.Alert.Count, got.Alert.ID, n+1, a.ID)
		}
	}
	t.Logf("the client that reads nothing was dropped after %d alert changes; the other got each at once", n)
	// The slow client, reading at last, gets events in order, then the
	// overflow event, then the end of the stream.
	p := client.NewSSEReader(slow.resp.Body)
	var last client.Event
	count := 0
	for {
		e, err := p.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("slow client after %d events: %v", count, err)
			}
			break
		}
		if e.Type == "alert" {
			if c := alertChange(t, e).Alert.Count; c != count+1 {
				t.Fatalf("slow client's event %d has count %d", count, c)
			}
			count++
		}
		last = e
	}
	if last.Type != "overflow" {
		t.Errorf("slow client's last event: %s, want overflow", last)
	}
	if count >= n {
		t.Errorf("slow client got %d of %d changes before its overflow", count, n)
	}
	// It resumes from where it stopped with Last-Event-ID: the rest, in order.
	again := w.openStream(t, nil, tok, "types=alert", last.ID)
	for i := count; i < n; i++ {
		if c := alertChange(t, again.next(t)).Alert.Count; c != i+1 {
			t.Fatalf("resumed slow client: count %d, want %d", c, i+1)
		}
	}
}

// metricValue is the value of a metric without labels on w's registry.
func metricValue(t *testing.T, w *ward, name string) float64 {
	t.Helper()
	mfs, err := w.srv.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// raise raises (or updates) an alert on w for device and rule.
func (w *ward) raise(t *testing.T, device, rule string) alert.Alert {
	t.Helper()
	a, err := w.srv.Alerts().Raise(context.Background(), alert.Alert{Device: device, Rule: rule, Severity: alert.Medium, Title: rule})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestStreamReplay: after a cut, Last-Event-ID delivers exactly the events
// missed, in order, with no duplicate, then live events; an ID the server
// cannot resume from gets a reset event first.
func TestStreamReplay(t *testing.T) {
	w := start(t, t.TempDir())
	tok, _ := w.roleToken(t, store.RoleViewer, time.Hour)
	s := w.openStream(t, nil, tok, "types=alert", "")
	for i := range 3 {
		w.raise(t, "sensor-r", fmt.Sprintf("rule-%d", i))
	}
	var lastID string
	for i := range 3 {
		e := s.next(t)
		if r := alertChange(t, e).Alert.Rule; r != fmt.Sprintf("rule-%d", i) {
			t.Fatalf("event %d: %s", i, r)
		}
		lastID = e.ID
	}
	s.close() // the cut
	var missed []string
	for i := 3; i < 6; i++ {
		missed = append(missed, w.raise(t, "sensor-r", fmt.Sprintf("rule-%d", i)).ID)
		w.enroll(t, fmt.Sprintf("sensor-r%d", i)) // device events between them, not selected
	}
	r := w.openStream(t, nil, tok, "types=alert", lastID)
	var got []string
	for range 3 {
		e := r.next(t)
		if e.Type != "alert" {
			t.Fatalf("resumed stream: %s", e)
		}
		got = append(got, alertChange(t, e).Alert.ID)
	}
	live := w.raise(t, "sensor-r", "rule-live")
	if e := alertChange(t, r.next(t)); e.Alert.ID != live.ID {
		t.Errorf("after the replay: %s (%s), want the live alert %s", e.Alert.ID, e.Alert.Rule, live.ID)
	}
	if strings.Join(got, ",") != strings.Join(missed, ",") {
		t.Errorf("replayed %v, want exactly the missed %v", got, missed)
	}
	for _, id := range []string{"0000000000-1", "garbage"} {
		if e := w.openStream(t, nil, tok, "types=alert", id).next(t); e.Type != "reset" {
			t.Errorf("Last-Event-ID %q: first event %s, want reset", id, e)
		}
	}
}

// TestStreamHeartbeatAndShutdown: an idle stream gets heartbeat comments
// (stream.heartbeat); stopping the server ends open streams at once, well
// within the shutdown grace period.
func TestStreamHeartbeatAndShutdown(t *testing.T) {
	t.Setenv("WARD_STREAM_HEARTBEAT", "50ms")
	t.Setenv("WARD_SHUTDOWN_GRACE", "30s")
	w := start(t, t.TempDir())
	tok, _ := w.roleToken(t, store.RoleViewer, time.Hour)
	s := w.openRaw(t, nil, tok, "", "")
	br := bufio.NewReader(s.resp.Body)
	beats := 0
	for beats < 2 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == ": heartbeat\n" {
			beats++
		}
	}
	begin := time.Now()
	w.stop()
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("shutdown with an open stream took %v", d)
	}
	if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("stream after shutdown: %v", err)
	}
}

// TestClusterStream: an alert raised on node A appears once on a stream of
// node B (fanned in over NATS), and node B's own events too.
func TestClusterStream(t *testing.T) {
	a, b, _ := startCluster(t)
	tok, _ := b.roleToken(t, store.RoleViewer, time.Hour)
	s := b.openStream(t, nil, tok, "types=alert", "")
	onA := a.raise(t, "sensor-c1", "cluster-rule")
	if e := alertChange(t, s.next(t)); e.Alert.ID != onA.ID || e.Change != alert.Raised {
		t.Fatalf("node B's stream: %+v, want node A's alert %s", e, onA.ID)
	}
	onB := b.raise(t, "sensor-c2", "cluster-rule")
	if e := alertChange(t, s.next(t)); e.Alert.ID != onB.ID {
		t.Fatalf("node B's stream: %s, want its own alert %s (node A's only once)", e.Alert.ID, onB.ID)
	}
	// NATS delivers node A's messages in order: a copy of the first
	// would come before this second one.
	onA2 := a.raise(t, "sensor-c1", "cluster-rule-2")
	if e := alertChange(t, s.next(t)); e.Alert.ID != onA2.ID {
		t.Fatalf("node B's stream: %s, want node A's second alert %s", e.Alert.ID, onA2.ID)
	}
	if n := metricValue(t, b, "ward_stream_bus_lost_total"); n != 0 {
		t.Errorf("node B lost %v events on the bus", n)
	}
}
