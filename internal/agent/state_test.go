package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseState(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{`{"model":"acme-th1","version":"1.5.0","at":"2026-12-01T10:00:00Z"}`, ""},
		{`{"model":"acme-th1","version":"1.5.0","rollout":"r-1","at":"2026-12-01T10:00:00Z"}`, ""},
		{`{"model":"acme-th1","version":"release-7","at":"2026-12-01T10:00:00Z"}`, "cannot be ordered"},
		{`{"model":"","version":"1.5.0"}`, "model"},
		{`{"model":"acme-th1","version":"1.5.0","extra":1}`, "unknown field"},
		{`{"model":"acme-th1","version":"1.5.0"} {}`, "trailing data"},
		{``, "EOF"},
		{strings.Repeat(" ", 5000), "more than"},
	} {
		_, err := ParseState([]byte(tc.in))
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseState(%.40q) = %v, want %q", tc.in, err, tc.err)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := LoadState(dir); ok || err != nil {
		t.Fatalf("empty dir: %v %v", ok, err)
	}
	want := State{Model: "acme-th1", Version: "1.5.0", Rollout: "r-1", At: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	if err := SaveState(dir, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := LoadState(dir)
	if err != nil || !ok || got != want {
		t.Fatalf("LoadState = %+v %v %v", got, ok, err)
	}
	// A corrupt file stops the agent with the fix, instead of resetting
	// its rollback floor.
	os.WriteFile(filepath.Join(dir, StateFile), []byte("{garbage"), 0o600)
	if _, _, err := LoadState(dir); err == nil || !strings.Contains(err.Error(), "--firmware-version") {
		t.Fatalf("corrupt state: %v", err)
	}
}

func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"model":"acme-th1","version":"1.5.0","at":"2026-12-01T10:00:00Z"}`))
	f.Add([]byte(`{"model":"acme-th1","version":"v2.0.0-rc.1+b7","rollout":"x"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseState(b)
		if err != nil {
			return
		}
		// What parses is a state the agent can order versions against.
		if _, err := ParseState(mustJSON(t, s)); err != nil {
			t.Fatalf("re-encoded state does not parse: %v", err)
		}
	})
}

// FuzzDownloadHeaders: the two server headers the downloader parses
// (Content-Range on a resume, Retry-After on a 429) never panic, and what
// they yield stays in range.
func FuzzDownloadHeaders(f *testing.F) {
	for _, s := range []string{"bytes 100-199/200", "bytes */200", "bytes -1-5/9", "7", "Wed, 21 Oct 2026 07:28:00 GMT", "-3", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if n, ok := contentRangeStart(v); ok && n < 0 {
			t.Fatalf("Content-Range %q: start %d", v, n)
		}
		if d := retryAfter(v); d < 0 || d > 24*time.Hour {
			t.Fatalf("Retry-After %q: %s", v, d)
		}
	})
}
