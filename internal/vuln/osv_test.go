package vuln

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/wardtest"
)

func TestImportSharedOSV(t *testing.T) {
	db, rep := sharedDB(t)
	if rep.Imported != 93 || rep.Withdrawn != 4 || len(rep.Rejected) != 1 {
		t.Fatalf("imported %d (withdrawn %d), rejected %d: %v; want 93 (4), 1", rep.Imported, rep.Withdrawn, len(rep.Rejected), rep.Rejected)
	}
	msg := rep.Rejected[0].Error()
	for _, want := range []string{"CVE-2012-2812.json", "affected[0].versions: want an array of strings, got null"} {
		if !strings.Contains(msg, want) {
			t.Errorf("rejection %q does not mention %q", msg, want)
		}
	}
	if !errors.Is(rep.Rejected[0], ErrInvalid) {
		t.Errorf("rejection is not ErrInvalid")
	}
	if a, ok := db.Advisory("GO-2022-0617"); !ok || !a.IsWithdrawn() {
		t.Errorf("withdrawn GO-2022-0617 not kept as withdrawn")
	}
	var b bytes.Buffer
	for _, f := range db.Feeds() {
		b.WriteString(f.Name + " " + f.ImportedAt.Format(time.RFC3339) + " " + f.Version + "\n")
	}
	wardtest.Golden(t, "testdata/feeds.golden", b.Bytes())
}

func TestStale(t *testing.T) {
	now := importTime
	db, _ := New(Options{Now: func() time.Time { return now }})
	if s := db.Stale(now, time.Hour); len(s) != 1 || s[0].Name != "kev" {
		t.Fatalf("empty DB: Stale = %v, want the missing kev feed", s)
	}
	rec := `{"id":"GO-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`
	if _, err := db.ImportOSV(context.Background(), "go.json", strings.NewReader(rec)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(48 * time.Hour)
	if _, err := db.ImportKEV("kev.json", strings.NewReader(miniKEV)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		maxAge time.Duration
		want   []string
	}{
		{"fresh", 72 * time.Hour, nil},
		{"osv-stale", 24 * time.Hour, []string{"osv/Go"}},
		{"all-stale", 0, []string{"kev", "osv/Go"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range db.Stale(now.Add(time.Second), tt.maxAge) {
				got = append(got, f.Name)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("Stale = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestParseOSVErrors checks that each schema rule gives an error naming
// the field.
func TestParseOSVErrors(t *testing.T) {
	const pkg = `"package":{"ecosystem":"Go","name":"m"}`
	tests := []struct {
		name, rec, want string
	}{
		{"not-json", `{"id":`, "unexpected end of JSON input"},
		{"array", `[]`, "want a JSON object"},
		{"no-id", `{"modified":"2024-01-01T00:00:00Z"}`, "id: missing"},
		{"no-modified", `{"id":"X-1"}`, "modified: missing"},
		{"bad-time", `{"id":"X-1","modified":"2024-01-01"}`, "modified: want an RFC 3339 UTC timestamp"},
		{"aliases-string", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","aliases":"CVE-1"}`, "aliases: want an array of strings"},
		{"related-null", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","related":null}`, "related: want an array of strings, got null"},
		{"versions-null", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{` + pkg + `,"versions":null}]}`, "affected[0].versions: want an array of strings, got null"},
		{"no-ecosystem", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"name":"m"}}]}`, "affected[0].package.ecosystem: missing"},
		{"bad-range-type", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{` + pkg + `,"ranges":[{"type":"RANGE","events":[{"introduced":"0"}]}]}]}`, "affected[0].ranges[0].type: want GIT, SEMVER or ECOSYSTEM"},
		{"no-introduced", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{` + pkg + `,"ranges":[{"type":"SEMVER","events":[{"fixed":"1.0.0"}]}]}]}`, "affected[0].ranges[0].events: no introduced event"},
		{"two-keys", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{` + pkg + `,"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1.0.0"}]}]}]}`, "affected[0].ranges[0].events[0]: want an object with exactly one"},
		{"fixed-and-last", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{` + pkg + `,"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"},{"last_affected":"0.9.0"}]}]}]}`, "mutually exclusive"},
		{"git-no-repo", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"ranges":[{"type":"GIT","events":[{"introduced":"0"}]}]}]}`, "affected[0].ranges[0].repo: missing"},
		{"git-short-hash", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"ranges":[{"type":"GIT","repo":"https://x/y","events":[{"introduced":"abc123"}]}]}]}`, "full 40- or 64-digit"},
		{"bad-cvss", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:X"}]}`, "severity[0].score"},
		{"bad-ubuntu", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","severity":[{"type":"Ubuntu","score":"urgent"}]}`, "want one of negligible"},
		{"bad-ref", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","references":[{"type":"BLOG","url":"https://x"}]}`, "references[0].type"},
		{"two-values", `{"id":"X-1","modified":"2024-01-01T00:00:00Z"} {}`, "more than one JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOSV(tt.name+".json", []byte(tt.rec))
			if err == nil {
				t.Fatal("parsed without error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.name+".json") {
				t.Fatalf("error %q does not name the file and contain %q", err, tt.want)
			}
		})
	}
}

func writeZip(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportOSVZip(t *testing.T) {
	dir := wardtest.SharedData(t, "vuln/osv/go")
	files := map[string][]byte{}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = data
	}
	files["broken.json"] = []byte(`{"id":"X-1"}`)
	files["README.txt"] = []byte("not a record")
	zdata := writeZip(t, files)

	t.Run("ok", func(t *testing.T) {
		db, _ := New(Options{})
		rep, err := db.ImportOSV(context.Background(), "Go.zip", bytes.NewReader(zdata))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Imported != len(paths) || len(rep.Rejected) != 1 || !strings.Contains(rep.Rejected[0].Error(), "Go.zip:broken.json") {
			t.Fatalf("imported %d rejected %v, want %d and broken.json", rep.Imported, rep.Rejected, len(paths))
		}
	})
	t.Run("path", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "Go.zip")
		if err := os.WriteFile(p, zdata, 0o600); err != nil {
			t.Fatal(err)
		}
		db, _ := New(Options{})
		rep, err := db.ImportOSVPath(context.Background(), p)
		if err != nil || rep.Imported != len(paths) {
			t.Fatalf("ImportOSVPath = %+v, %v", rep, err)
		}
	})
	t.Run("too-many-entries", func(t *testing.T) {
		db, _ := New(Options{MaxZipEntries: 3})
		_, err := db.ImportOSV(context.Background(), "Go.zip", bytes.NewReader(zdata))
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("total-budget", func(t *testing.T) {
		db, _ := New(Options{MaxZipBytes: int64(len(zdata)) + 10_000})
		_, err := db.ImportOSV(context.Background(), "Go.zip", bytes.NewReader(zdata))
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge (inflated total)", err)
		}
	})
	t.Run("bomb-entry", func(t *testing.T) {
		// 64 MiB of spaces compresses to about 64 KiB.
		bomb := writeZip(t, map[string][]byte{"bomb.json": bytes.Repeat([]byte(" "), 64<<20)})
		db, _ := New(Options{MaxRecordBytes: 1 << 20})
		rep, err := db.ImportOSV(context.Background(), "bomb.zip", bytes.NewReader(bomb))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rejected) != 1 || !errors.Is(rep.Rejected[0], ErrTooLarge) {
			t.Fatalf("rejected = %v, want one ErrTooLarge", rep.Rejected)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		db, _ := New(Options{})
		if _, err := db.ImportOSV(ctx, "Go.zip", bytes.NewReader(zdata)); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestImportNewerWins(t *testing.T) {
	db, _ := New(Options{})
	old := `{"id":"GO-1","modified":"2024-01-01T00:00:00Z","summary":"old"}`
	newer := `{"id":"GO-1","modified":"2024-02-01T00:00:00Z","summary":"new"}`
	for _, r := range []string{newer, old} {
		if _, err := db.ImportOSV(context.Background(), "r.json", strings.NewReader(r)); err != nil {
			t.Fatal(err)
		}
	}
	if a, _ := db.Advisory("GO-1"); a.Summary != "new" {
		t.Fatalf("summary = %q, want the newer record", a.Summary)
	}
}
