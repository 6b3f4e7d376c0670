package stream

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestServeIdleLongerThanWriteTimeout: a stream idle for longer than the
// write timeout (heartbeats further apart than it) stays open, over
// HTTP/2 and HTTP/1.1, behind a server whose own timeouts are shorter
// still; each heartbeat arrives.
func TestServeIdleLongerThanWriteTimeout(t *testing.T) {
	for _, h2 := range []bool{true, false} {
		name := map[bool]string{true: "HTTP/2", false: "HTTP/1.1"}[h2]
		t.Run(name, func(t *testing.T) {
			// The gaps between heartbeats are longer than the stream's write
			// timeout and than the server's own timeouts, which still leave
			// the TLS handshake of a loaded machine time to finish.
			h := newHub(t, Options{WriteTimeout: 200 * time.Millisecond, Heartbeat: 1500 * time.Millisecond})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sub, err := h.Subscribe(r.Context(), Request{})
				if err != nil {
					t.Error(err)
					return
				}
				h.Serve(w, r, sub, nil)
			}))
			srv.EnableHTTP2 = h2
			srv.Config.ReadTimeout, srv.Config.WriteTimeout = time.Second, time.Second
			srv.StartTLS()
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != map[bool]int{true: 2, false: 1}[h2] {
				t.Fatalf("protocol %s", resp.Proto)
			}
			br := bufio.NewReader(resp.Body)
			for beats := 0; beats < 2; {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("after %d heartbeats: %v", beats, err)
				}
				if strings.HasPrefix(line, ": heartbeat") {
					beats++
				}
			}
		})
	}
}
