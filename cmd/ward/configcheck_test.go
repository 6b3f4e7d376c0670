package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheckNotify: ward config check validates the notify section
// as the server reads it at start, secret files included; each bad input
// is one error naming the sink, the key and the fix.
func TestConfigCheckNotify(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "hook.secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open.secret")
	if err := os.WriteFile(open, []byte(strings.Repeat("s", 32)), 0o644); err != nil {
		t.Fatal(err)
	}
	dl := "  dead_letter_dir: " + filepath.Join(dir, "dl") + "\n"
	hook := func(url, file string) string {
		return "  webhooks:\n    - name: soc\n      url: " + url + "\n      secret_file: " + file + "\n"
	}
	tests := []struct {
		name, notify string
		want         []string // all in the error; none: valid
	}{
		{"valid", dl + hook("https://soc.example.com/hook", secret) +
			"  syslog:\n    - name: siem\n      address: siem.example.com:6514\n  mqtt:\n    - name: local\n", nil},
		{"unknown-key", dl + "  webhook:\n    - name: x\n", []string{"field webhook not found"}},
		{"webhook-url-scheme", dl + hook("ftp://soc.example.com/hook", secret), []string{`webhook sink "soc"`, "url"}},
		{"webhook-plain-http-remote", dl + hook("http://soc.example.com/hook", secret), []string{`webhook sink "soc"`, "url"}},
		{"webhook-no-secret-file", dl + "  webhooks:\n    - name: soc\n      url: https://soc.example.com/hook\n", []string{"secret_file: required"}},
		{"webhook-secret-missing", dl + hook("https://soc.example.com/hook", filepath.Join(dir, "none")), []string{"secret_file", "no such file"}},
		{"webhook-secret-world-readable", dl + hook("https://soc.example.com/hook", open), []string{"readable by others", "chmod 600"}},
		{"syslog-address", dl + "  syslog:\n    - name: siem\n      address: siem.example.com\n", []string{`syslog sink "siem"`, "address", "not host:port"}},
		{"syslog-network", dl + "  syslog:\n    - name: siem\n      network: sctp\n      address: siem.example.com:514\n", []string{"network", `unknown network "sctp"`}},
		{"syslog-format", dl + "  syslog:\n    - name: siem\n      format: json\n      address: siem.example.com:514\n", []string{"format", "use rfc5424 or cef"}},
		{"mqtt-topic-prefix", dl + "  mqtt:\n    - name: local\n      topic_prefix: ward/#\n", []string{`mqtt sink "local"`, "topic_prefix"}},
		{"duplicate-names", dl + "  mqtt:\n    - name: a\n  syslog:\n    - name: a\n      address: h:514\n", []string{"duplicate sink name"}},
		{"no-name", dl + "  mqtt:\n    - topic_prefix: ward/x\n", []string{"name: required"}},
		{"severity", dl + "  mqtt:\n    - name: a\n      min_severity: urgent\n", []string{"urgent"}},
		{"retries", dl + "  mqtt:\n    - name: a\n      retries: 99\n", []string{"retries", "out of range"}},
		{"no-dead-letter-dir", "  mqtt:\n    - name: a\n", []string{"dead_letter_dir", "required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "ward.yaml")
			if err := os.WriteFile(file, []byte("data_dir: "+dir+"\nnotify:\n"+tt.notify), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := runWard("", "config", "check", "--config", file)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("valid notify section refused: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted:\n%s", out)
			}
			msg := err.Error()
			if !strings.Contains(msg, "notify") {
				t.Errorf("error %q does not name the notify section", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
		})
	}
}
