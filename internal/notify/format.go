package notify

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wardproject/ward/internal/alert"
)

// MessageFormat is the MSG part of a syslog message.
type MessageFormat string

// Message formats.
const (
	// MessageRFC5424 is a one-line text MSG (title and description) with
	// the alert's fields in the structured data element SDID.
	MessageRFC5424 MessageFormat = "rfc5424"
	// MessageCEF is an ArcSight CEF line as MSG (see FormatCEF), with no
	// structured data.
	MessageCEF MessageFormat = "cef"
)

// SDID is the structured-data ID of Ward's alert fields in RFC 5424
// messages. 32473 is the private enterprise number that RFC 5612 sets aside
// for examples: Ward has no number of its own yet.
const SDID = "ward@32473"

// CEFVersion is the Device Version field of Ward's CEF lines: the version
// of the mapping of a notification onto CEF documented in the package
// documentation. It changes when a field's meaning does.
const CEFVersion = "1"

// FacilityAuth is the default syslog facility: 4, security/authorization
// messages.
const FacilityAuth = 4

// SyslogHeader holds the parts of an RFC 5424 message that do not come
// from the notification.
type SyslogHeader struct {
	// Facility is the syslog facility, 0-23.
	Facility int
	// Hostname, AppName and ProcID are the header fields; "" gives the
	// NILVALUE "-". Characters outside printable US-ASCII become '_'.
	Hostname, AppName, ProcID string
	// Message selects the MSG format; "" means MessageRFC5424.
	Message MessageFormat
}

// SyslogSeverity maps a notification onto a syslog severity: critical 2
// (crit), high 3 (err), medium 4 (warning), low 5 (notice), an unknown
// severity 4. An acknowledgement or a clearance is 6 (informational)
// whatever the alert's severity, so that it does not page anyone.
func SyslogSeverity(n alert.Notification) int {
	if n.Change == alert.Acknowledge || n.Change == alert.Clear {
		return 6
	}
	switch n.Alert.Severity {
	case alert.Critical:
		return 2
	case alert.High:
		return 3
	case alert.Low:
		return 5
	}
	return 4
}

// CEFSeverity maps a notification onto CEF's 0-10 severity: critical 10,
// high 8, medium 5, low 3, an unknown severity 5. An acknowledgement or a
// clearance is 1; the alert's own severity is then in cs2.
func CEFSeverity(n alert.Notification) int {
	if n.Change == alert.Acknowledge || n.Change == alert.Clear {
		return 1
	}
	switch n.Alert.Severity {
	case alert.Critical:
		return 10
	case alert.High:
		return 8
	case alert.Low:
		return 3
	}
	return 5
}

// FormatRFC5424 renders n as one RFC 5424 syslog message, without the
// transport's framing. The priority comes from h.Facility and
// SyslogSeverity, TIMESTAMP is n.Time in UTC with microseconds, MSGID is
// the change. Control characters in text become spaces and invalid UTF-8
// becomes U+FFFD, so the message is one line of valid UTF-8; a MSG with
// non-ASCII text starts with the BOM that RFC 5424 requires of UTF-8.
func FormatRFC5424(h SyslogHeader, n alert.Notification) string {
	var b strings.Builder
	b.WriteByte('<')
	b.WriteString(strconv.Itoa(h.Facility*8 + SyslogSeverity(n)))
	b.WriteString(">1 ")
	if n.Time.IsZero() {
		b.WriteString("-")
	} else {
		b.WriteString(n.Time.UTC().Format("2006-01-02T15:04:05.000000Z"))
	}
	for _, f := range []struct {
		v     string
		limit int
	}{{h.Hostname, 255}, {h.AppName, 48}, {h.ProcID, 128}, {string(n.Change), 32}} {
		b.WriteByte(' ')
		b.WriteString(headerField(f.v, f.limit))
	}
	b.WriteByte(' ')
	var msg string
	if h.Message == MessageCEF {
		b.WriteString("-")
		msg = FormatCEF(n)
	} else {
		writeSD(&b, n)
		msg = cleanText(n.Alert.Title)
		if msg == "" {
			msg = cleanText(n.Alert.Rule)
		}
		if d := cleanText(n.Alert.Description); d != "" {
			msg += ": " + d
		}
	}
	if msg != "" {
		b.WriteByte(' ')
		if !isASCII(msg) {
			b.WriteString("\uFEFF")
		}
		b.WriteString(msg)
	}
	return b.String()
}

// writeSD writes the SDID element with the alert's fields.
func writeSD(b *strings.Builder, n alert.Notification) {
	a := n.Alert
	b.WriteString("[" + SDID)
	param := func(name, v string, always bool) {
		if v == "" && !always {
			return
		}
		b.WriteString(" " + name + `="`)
		b.WriteString(sdEscaper.Replace(cleanText(v)))
		b.WriteByte('"')
	}
	param("id", a.ID, true)
	param("device", a.Device, true)
	param("rule", a.Rule, true)
	param("severity", string(a.Severity), true)
	param("state", string(a.State), true)
	param("change", string(n.Change), true)
	param("source", a.Source, false)
	param("count", strconv.Itoa(a.Count), true)
	param("mitre", strings.Join(a.MITRE, ","), false)
	if a.Evidence.Metric != "" {
		param("metric", a.Evidence.Metric, true)
		param("window", a.Evidence.Window, false)
		param("value", formatFloat(a.Evidence.Value), true)
		param("threshold", formatFloat(a.Evidence.Threshold), true)
	}
	b.WriteByte(']')
}

// sdEscaper escapes a PARAM-VALUE (RFC 5424 section 6.3.3).
var sdEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`)

// headerField makes v a header field: printable US-ASCII, at most limit
// bytes, "-" when empty.
func headerField(v string, limit int) string {
	if v == "" {
		return "-"
	}
	b := []byte(v)
	if len(b) > limit {
		b = b[:limit]
	}
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	return string(b)
}

// FormatCEF renders n as one ArcSight CEF line:
//
//	CEF:0|Ward|Ward|<CEFVersion>|<rule>|<title>|<CEFSeverity>|<extension>
//
// In the header, '\' and '|' are escaped with '\'; in extension values,
// '\' and '=' are escaped with '\' and line breaks are written as \n and
// \r. Other control characters become spaces and invalid UTF-8 becomes
// U+FFFD, so the line holds no raw line break and is valid UTF-8. The
// extension keys are listed in the package documentation.
func FormatCEF(n alert.Notification) string {
	a := n.Alert
	var b strings.Builder
	b.WriteString("CEF:0|Ward|Ward|" + CEFVersion + "|")
	b.WriteString(cefHeader(a.Rule))
	b.WriteByte('|')
	name := a.Title
	if name == "" {
		name = a.Rule
	}
	b.WriteString(cefHeader(name))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(CEFSeverity(n)))
	b.WriteByte('|')
	first := true
	ext := func(key, v string) {
		if v == "" {
			return
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(cefValue(v))
	}
	ext("rt", cefTime(n.Time))
	ext("act", string(n.Change))
	ext("cat", a.Source)
	ext("externalId", a.ID)
	ext("cs1Label", "deviceId")
	ext("cs1", a.Device)
	ext("cs2Label", "alertSeverity")
	ext("cs2", string(a.Severity))
	ext("cs3Label", "alertState")
	ext("cs3", string(a.State))
	if len(a.MITRE) > 0 {
		ext("cs4Label", "mitreTechniques")
		ext("cs4", strings.Join(a.MITRE, ","))
	}
	if a.Evidence.Metric != "" {
		ext("cs5Label", "metric")
		ext("cs5", a.Evidence.Metric)
		if a.Evidence.Window != "" {
			ext("cs6Label", "window")
			ext("cs6", a.Evidence.Window)
		}
		ext("cfp1Label", "value")
		ext("cfp1", formatFloat(a.Evidence.Value))
		ext("cfp2Label", "threshold")
		ext("cfp2", formatFloat(a.Evidence.Threshold))
	}
	ext("cnt", strconv.Itoa(a.Count))
	ext("start", cefTime(a.RaisedAt))
	if a.State == alert.Cleared {
		ext("end", cefTime(a.ClearedAt))
	}
	switch n.Change {
	case alert.Acknowledge:
		ext("suser", a.AcknowledgedBy)
	case alert.Clear:
		ext("suser", a.ClearedBy)
	}
	ext("msg", a.Description)
	return b.String()
}

// cefHeaderEscaper escapes a CEF header field.
var cefHeaderEscaper = strings.NewReplacer(`\`, `\\`, `|`, `\|`)

// cefValueEscaper escapes a CEF extension value.
var cefValueEscaper = strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\n", `\n`, "\r", `\r`)

func cefHeader(v string) string { return cefHeaderEscaper.Replace(cleanText(v)) }

func cefValue(v string) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	v = strings.Map(func(r rune) rune {
		if r != '\n' && r != '\r' && unicode.IsControl(r) {
			return ' '
		}
		return r
	}, v)
	return cefValueEscaper.Replace(v)
}

// cefTime is t in milliseconds since the Unix epoch, "" when t is zero.
func cefTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// cleanText makes v valid UTF-8 with no control characters (they become
// spaces), so that it stays on one line.
func cleanText(v string) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, v)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
