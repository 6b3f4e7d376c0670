package notify_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/notify"
	"github.com/wardproject/ward/internal/wardtest"
)

// tricky holds every character the formats must escape or clean.
func tricky() alert.Notification {
	n := sample()
	n.Alert.Rule = `rule|with\pipe`
	n.Alert.Title = "Title | with \\ backslash,\nnewline and = sign"
	n.Alert.Description = "line one\r\nline two = \"quoted\" ] bracket \\ back | pipe\ttab; Grüße 日本 ✓ \xff bad"
	n.Alert.Device = "dév/ice+#1"
	n.Alert.Evidence.Metric = "bytes=out"
	return n
}

// cleared is an operator's clearance of a critical alert.
func cleared() alert.Notification {
	n := sample()
	n.Change = alert.Clear
	n.Alert.Severity = alert.Critical
	n.Alert.State = alert.Cleared
	n.Alert.ClearedAt = t0.Add(10 * 60e9)
	n.Alert.ClearedBy = "alice"
	n.Alert.Evidence = alert.Evidence{}
	n.Alert.MITRE = nil
	n.Alert.Description = ""
	return n
}

var formatCases = []struct {
	name string
	n    func() alert.Notification
}{
	{"basic", sample},
	{"tricky", tricky},
	{"cleared", cleared},
	{"empty", func() alert.Notification { return alert.Notification{} }},
}

func TestFormatCEF(t *testing.T) {
	for _, tt := range formatCases {
		t.Run(tt.name, func(t *testing.T) {
			wardtest.Golden(t, "testdata/cef-"+tt.name+".golden", []byte(notify.FormatCEF(tt.n())+"\n"))
		})
	}
}

func TestFormatRFC5424(t *testing.T) {
	h := notify.SyslogHeader{Facility: notify.FacilityAuth, Hostname: "ward-1.example.com", AppName: "ward"}
	for _, tt := range formatCases {
		t.Run(tt.name, func(t *testing.T) {
			wardtest.Golden(t, "testdata/rfc5424-"+tt.name+".golden", []byte(notify.FormatRFC5424(h, tt.n())+"\n"))
		})
	}
	t.Run("cef", func(t *testing.T) {
		h := h
		h.Message = notify.MessageCEF
		h.Hostname = "bad host\n"
		wardtest.Golden(t, "testdata/rfc5424-cef.golden", []byte(notify.FormatRFC5424(h, tricky())+"\n"))
	})
}

func TestCEFParsesBack(t *testing.T) {
	n := tricky()
	hdr, ext := parseCEF(t, notify.FormatCEF(n))
	want := []string{"CEF:0", "Ward", "Ward", notify.CEFVersion, `rule|with\pipe`,
		"Title | with \\ backslash, newline and = sign", "8"}
	if d := cmp.Diff(want, hdr); d != "" {
		t.Errorf("header (-want +got):\n%s", d)
	}
	if got, want := ext["msg"], "line one\r\nline two = \"quoted\" ] bracket \\ back | pipe tab; Grüße 日本 ✓ \uFFFD bad"; got != want {
		t.Errorf("msg = %q, want %q", got, want)
	}
	if ext["cs1"] != n.Alert.Device || ext["cs5"] != "bytes=out" || ext["cfp1"] != "812" {
		t.Errorf("extension %v", ext)
	}
}

// parseCEF splits a CEF line into its 7 header fields (unescaped) and its
// extension (unescaped values), failing on anything malformed.
func parseCEF(t testing.TB, line string) ([]string, map[string]string) {
	t.Helper()
	var hdr []string
	var f strings.Builder
	i := 0
	for ; i < len(line) && len(hdr) < 7; i++ {
		switch c := line[i]; c {
		case '\\':
			if i+1 >= len(line) || (line[i+1] != '\\' && line[i+1] != '|') {
				t.Fatalf("bad header escape at %d in %q", i, line)
			}
			i++
			f.WriteByte(line[i])
		case '|':
			hdr = append(hdr, f.String())
			f.Reset()
		default:
			f.WriteByte(c)
		}
	}
	if len(hdr) != 7 {
		t.Fatalf("%d header fields in %q, want 7", len(hdr), line)
	}
	ext := map[string]string{}
	rest := line[i:]
	if rest == "" {
		return hdr, ext
	}
	// Every '=' in a value is escaped, so an unescaped '=' ends a key,
	// which starts after the last space before it.
	type span struct{ keyStart, eq int }
	var spans []span
	for j := 0; j < len(rest); j++ {
		switch rest[j] {
		case '\\':
			j++
		case '=':
			prev := 0
			if len(spans) > 0 {
				prev = spans[len(spans)-1].eq + 1
			}
			k := strings.LastIndexByte(rest[prev:j], ' ')
			if len(spans) > 0 && k < 0 {
				t.Fatalf("no space before key in %q", rest)
			}
			spans = append(spans, span{keyStart: prev + k + 1, eq: j})
		}
	}
	if len(spans) == 0 || spans[0].keyStart != 0 {
		t.Fatalf("extension %q does not start with a key", rest)
	}
	for p, sp := range spans {
		to := len(rest)
		if p+1 < len(spans) {
			to = spans[p+1].keyStart - 1
		}
		key := rest[sp.keyStart:sp.eq]
		for _, c := range key {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				t.Fatalf("bad key %q in %q", key, rest)
			}
		}
		v, ok := unescapeCEFValue(rest[sp.eq+1 : to])
		if !ok {
			t.Fatalf("bad escape in value %q", rest[sp.eq+1:to])
		}
		if _, dup := ext[key]; dup {
			t.Fatalf("duplicate key %q", key)
		}
		ext[key] = v
	}
	return hdr, ext
}

func unescapeCEFValue(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", false
		}
		i++
		switch s[i] {
		case '\\', '=':
			b.WriteByte(s[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", false
		}
	}
	return b.String(), true
}

func FuzzFormatCEF(f *testing.F) {
	for _, s := range []string{"", "a|b", `a\|b\\`, "x=y\nz\r", "日本\xff", `\`, "|||"} {
		f.Add(s, s, s, s)
	}
	f.Fuzz(func(t *testing.T, rule, title, desc, device string) {
		n := sample()
		n.Alert.Rule, n.Alert.Title, n.Alert.Description, n.Alert.Device = rule, title, desc, device
		line := notify.FormatCEF(n)
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("raw line break in %q", line)
		}
		if !utf8.ValidString(line) {
			t.Fatalf("invalid UTF-8 in %q", line)
		}
		hdr, ext := parseCEF(t, line) // exactly 7 unescaped header pipes
		if title == "" {
			title = rule
		}
		if hdr[4] != clean(rule) || hdr[5] != clean(title) {
			t.Fatalf("header %q does not round-trip rule %q title %q", hdr, rule, title)
		}
		if device != "" && ext["cs1"] != cleanValue(device) {
			t.Fatalf("cs1 = %q, want %q", ext["cs1"], cleanValue(device))
		}
		if desc != "" && ext["msg"] != cleanValue(desc) {
			t.Fatalf("msg = %q, want %q", ext["msg"], cleanValue(desc))
		}
	})
}

func FuzzFormatRFC5424(f *testing.F) {
	for _, s := range []string{"", "a]b\"c\\", "x\ny", "日本\xff", "- -"} {
		f.Add(s, s, s, s)
	}
	f.Fuzz(func(t *testing.T, host, rule, title, device string) {
		n := sample()
		n.Alert.Rule, n.Alert.Title, n.Alert.Device = rule, title, device
		for _, mf := range []notify.MessageFormat{notify.MessageRFC5424, notify.MessageCEF} {
			msg := notify.FormatRFC5424(notify.SyslogHeader{Facility: 23, Hostname: host, AppName: "ward", Message: mf}, n)
			if !utf8.ValidString(msg) || strings.ContainsAny(msg, "\r\n\x00") {
				t.Fatalf("invalid UTF-8 or control character in %q", msg)
			}
			m := parse5424(t, msg)
			if m.pri != 23*8+3 || m.app != "ward" || m.msgid != "raised" {
				t.Fatalf("header of %q parsed as %+v", msg, m)
			}
			if mf == notify.MessageRFC5424 && (m.sd["rule"] != clean(rule) || m.sd["device"] != clean(device)) {
				t.Fatalf("structured data %v does not round-trip rule %q device %q", m.sd, rule, device)
			}
		}
	})
}

// clean is what the formats make of text: valid UTF-8, controls as spaces.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// cleanValue is what a CEF extension value unescapes to: line breaks kept.
func cleanValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\r' && (r < 0x20 || (r >= 0x7f && r < 0xa0)) {
			return ' '
		}
		return r
	}, s)
}
