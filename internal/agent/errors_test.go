package agent

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestExplainConnectionErrors: what the person at the device reads for a
// wrong port, a server from another CA, a revoked device and no server.
func TestExplainConnectionErrors(t *testing.T) {
	e := newEnv(t)
	plain := httptest.NewServer(http.NotFoundHandler()) // e.g. MQTT's or another service's port
	t.Cleanup(plain.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String()
	ln.Close()
	other := newEnv(t)
	get := func(url string) error {
		_, err := e.httpClient(e.cert).Get(url + "/tuf/root.json")
		return err
	}
	for _, tc := range []struct {
		name, url, want string
	}{
		{"wrong port", "https://" + strings.TrimPrefix(plain.URL, "http://"), "does not speak TLS on this port"},
		{"other CA", other.srv.URL, "not signed by Ward's CA"},
		{"nothing listens", closed, "nothing listens at this address"},
	} {
		err := get(tc.url)
		if got := Explain(err); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// A revoked device: the server answers 403, and the agent says why.
	e.publish("acme-th1", "1.5.0", "", fw150)
	if _, _, err := e.reg.Revoke(context.Background(), e.id, "stolen"); err != nil {
		t.Fatal(err)
	}
	_, err = LoadTrustedRoot(context.Background(), t.TempDir()+"/root.json", e.srv.URL, e.httpClient(e.cert), discard())
	if err == nil || !strings.Contains(err.Error(), "refused this device's certificate") {
		t.Fatalf("first root for a revoked device: %v", err)
	}
	var sl sleeps
	in := e.installer("acme-th1", "1.4.2", &sl, nil)
	mustRefuse(t, e, in, order("acme-th1", "1.5.0"), "refused this device's certificate")
	if sl.count() != 0 {
		t.Fatalf("a 403 was retried %d times", sl.count())
	}
}
