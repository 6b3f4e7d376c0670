package client

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/stream"
)

func readAll(t testing.TB, in string) ([]Event, *SSEReader, error) {
	t.Helper()
	p := NewSSEReader(strings.NewReader(in))
	var out []Event
	for {
		e, err := p.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return out, p, err
		}
		out = append(out, e)
	}
}

// TestSSEParse follows the examples and rules of the WHATWG format.
func TestSSEParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{name: "ward event", in: "id: a-1\nevent: alert\ndata: {\"x\":1}\n\n",
			want: []Event{{ID: "a-1", Type: "alert", Data: []byte(`{"x":1}`)}}},
		{name: "multi-line data", in: "data: YHOO\ndata: +2\ndata: 10\n\n",
			want: []Event{{Type: "message", Data: []byte("YHOO\n+2\n10")}}},
		{name: "comments and heartbeat skipped", in: ": ward live stream\n\n: heartbeat\n\nevent: reset\ndata: {}\n\n",
			want: []Event{{Type: "reset", Data: []byte("{}")}}},
		{name: "CRLF and CR", in: "id: 1\r\ndata: a\r\rdata:b\r\n\r\n",
			want: []Event{{ID: "1", Type: "message", Data: []byte("a")}, {ID: "1", Type: "message", Data: []byte("b")}}},
		{name: "no space after colon, field without colon", in: "data:x\ndata\n\n",
			want: []Event{{Type: "message", Data: []byte("x\n")}}},
		{name: "event without data not dispatched", in: "event: alert\n\ndata: y\n\n",
			want: []Event{{Type: "message", Data: []byte("y")}}},
		{name: "id kept for later events, NUL id ignored", in: "id: 7\ndata: a\n\nid: 8\x00\ndata: b\n\n",
			want: []Event{{ID: "7", Type: "message", Data: []byte("a")}, {ID: "7", Type: "message", Data: []byte("b")}}},
		{name: "unterminated event dropped", in: "data: a\n\ndata: partial\n",
			want: []Event{{Type: "message", Data: []byte("a")}}},
		{name: "unknown field ignored", in: "foo: bar\ndata: a\n\n", want: []Event{{Type: "message", Data: []byte("a")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := readAll(t, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	_, p, _ := readAll(t, "retry: 2500\n\nretry: x\n\n")
	if p.Retry != 2500*time.Millisecond {
		t.Errorf("retry = %v, want 2.5s", p.Retry)
	}
}

// TestSSETooLarge: an endless line or event is refused at MaxEventBytes.
func TestSSETooLarge(t *testing.T) {
	long := "data: " + strings.Repeat("x", MaxEventBytes) + "\n\n"
	if _, _, err := readAll(t, long); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("one long line: %v, want ErrEventTooLarge", err)
	}
	many := strings.Repeat("data: "+strings.Repeat("y", 1<<20)+"\n", 9) + "\n"
	if _, _, err := readAll(t, many); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("many lines: %v, want ErrEventTooLarge", err)
	}
}

// FuzzSSE: the parser never panics and bounds what it returns; what the
// server's encoder writes parses back to the same event.
func FuzzSSE(f *testing.F) {
	f.Add("id: a-1\nevent: alert\ndata: {\"x\":1}\n\n", "a-1", "alert", []byte(`{"x":1}`))
	f.Add(": hb\r\ndata\r\rid: \x00\n\n", "", "reset", []byte("a\nb\r\nc"))
	f.Add("retry: 99999999999\ndata: x\n", "x\ny", "ev:ent", []byte{})
	f.Fuzz(func(t *testing.T, raw, id, typ string, data []byte) {
		evs, _, _ := readAll(t, raw)
		for _, e := range evs {
			if len(e.Data) > MaxEventBytes {
				t.Fatalf("event of %d bytes", len(e.Data))
			}
		}
		var b bytes.Buffer
		if err := stream.NewEncoder(&b).Event(id, stream.Type(typ), data); err != nil {
			t.Fatal(err)
		}
		got, _, err := readAll(t, b.String())
		if err != nil || len(got) != 1 {
			t.Fatalf("encoded %q: %v, %d events", b.String(), err, len(got))
		}
		clean := func(s string) string { return strings.NewReplacer("\n", " ", "\r", " ", "\x00", " ").Replace(s) }
		want := Event{ID: clean(id), Type: clean(typ), Data: bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\r"), nil)}
		if want.Type == "" {
			want.Type = "message"
		}
		if want.Data == nil {
			want.Data = []byte{}
		}
		if bytes.HasSuffix(want.Data, []byte("\n")) {
			want.Data = want.Data[:len(want.Data)-1] // a trailing newline is a line end, not data
		}
		if got[0].ID != want.ID || got[0].Type != want.Type || !bytes.Equal(got[0].Data, want.Data) {
			t.Fatalf("round trip of %q: got %v, want %v", b.String(), got[0], want)
		}
	})
}

// TestFollowReconnects: a cut stream is reopened with the Last-Event-ID of
// the last event received; a 503 is retried; a 401 ends Follow with the
// server's error; cancelling the context ends it with ctx.Err().
func TestFollowReconnects(t *testing.T) {
	type call struct{ lastID string }
	calls := make(chan call, 8)
	n := 0
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		calls <- call{r.Header.Get("Last-Event-ID")}
		switch n {
		case 1: // two events, then cut
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "id: b-1\nevent: alert\ndata: 1\n\nid: b-2\nevent: alert\ndata: 2\n\n")
		case 2:
			http.Error(w, `{"status":503,"message":"shutting down"}`, http.StatusServiceUnavailable)
		case 3: // the replay, then wait for the test
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "id: b-3\nevent: device\ndata: 3\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"status":401,"message":"invalid, revoked or expired API token"}`)
		}
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c, err := New(Options{Server: srv.URL, Token: "t", Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var opened []bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = c.Follow(ctx, "/api/v1/stream", FollowOptions{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
		Opened: func(first bool) error { opened = append(opened, first); return nil }}, func(e Event) error {
		got = append(got, fmt.Sprintf("%s %s %s", e.ID, e.Type, e.Data))
		if e.ID == "b-3" {
			close(release) // the server ends the stream: the next attempt gets 401
		}
		return nil
	})
	var ce *Error
	if !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized {
		t.Fatalf("Follow ended with %v, want the 401", err)
	}
	if diff := cmp.Diff([]string{"b-1 alert 1", "b-2 alert 2", "b-3 device 3"}, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]bool{true, false}, opened); diff != "" {
		t.Errorf("Opened(first) calls (-want +got):\n%s", diff)
	}
	var ids []string
	for range 4 {
		ids = append(ids, (<-calls).lastID)
	}
	if diff := cmp.Diff([]string{"", "b-2", "b-2", "b-3"}, ids); diff != "" {
		t.Errorf("Last-Event-ID of each request (-want +got):\n%s", diff)
	}

	// Cancelling ends a stream that is open.
	n = 2 // the next request is the waiting stream
	release = make(chan struct{})
	ctx2, cancel2 := context.WithCancel(context.Background())
	err = c.Follow(ctx2, "/api/v1/stream", FollowOptions{}, func(e Event) error { cancel2(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Follow: %v, want context.Canceled", err)
	}
}
