package notify_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/notify"
)

const configYAML = `
dead_letter_dir: /var/lib/ward/dead-letters
webhooks:
  - name: soc
    url: https://soar.example.com/hooks/ward
    secret_file: /etc/ward/webhook.secret
    min_severity: high
    changes: [raised, cleared]
    timeout: 5s
    retries: 6
syslog:
  - name: siem
    network: tls
    address: siem.example.com:6514
    format: cef
    app_name: ward
mqtt:
  - name: automation
    topic_prefix: site1/alerts
`

func TestConfigFromYAML(t *testing.T) {
	var c notify.Config
	if err := yaml.Unmarshal([]byte(configYAML), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	w := c.Webhooks[0]
	if w.Name != "soc" || w.MinSeverity != alert.High || w.Timeout != 5*time.Second || w.Retries != 6 || len(w.Changes) != 2 {
		t.Errorf("webhook config %+v", w)
	}
	if s := c.Syslog[0].Options(nil); s.Format != notify.MessageCEF || s.Network != "tls" {
		t.Errorf("syslog options %+v", s)
	}
	if m := c.MQTT[0].Options(nil); m.TopicPrefix != "site1/alerts" {
		t.Errorf("mqtt options %+v", m)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func() notify.Config {
		var c notify.Config
		if err := yaml.Unmarshal([]byte(configYAML), &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name   string
		change func(*notify.Config)
		want   []string
	}{
		{"bad severity", func(c *notify.Config) { c.Webhooks[0].MinSeverity = "severe" },
			[]string{`notify: webhook sink "soc": min_severity: unknown severity "severe" (use low, medium, high or critical)`}},
		{"http url", func(c *notify.Config) { c.Webhooks[0].URL = "http://soar.example.com/x" },
			[]string{`webhook sink "soc": url: http is allowed only`}},
		{"no secret", func(c *notify.Config) { c.Webhooks[0].SecretFile = "" }, []string{`secret_file: required`}},
		{"retries", func(c *notify.Config) { c.Webhooks[0].Retries = 99 }, []string{`retries: 99 is out of range`}},
		{"syslog network and format", func(c *notify.Config) { c.Syslog[0].Network = "http"; c.Syslog[0].Format = "json" },
			[]string{`syslog sink "siem": network: unknown network "http" (use udp, tcp or tls)`, `format: unknown format "json"`}},
		{"syslog address", func(c *notify.Config) { c.Syslog[0].Address = "siem" }, []string{`address: "siem" is not host:port`}},
		{"app name", func(c *notify.Config) { c.Syslog[0].AppName = "ward app" }, []string{`app_name: not 1-48 printable`}},
		{"mqtt prefix", func(c *notify.Config) { c.MQTT[0].TopicPrefix = "a/+/b" }, []string{`topic_prefix: "a/+/b" holds a wildcard`}},
		{"duplicate", func(c *notify.Config) { c.MQTT[0].Name = "soc" }, []string{`mqtt sink "soc": name: duplicate sink name`}},
		{"no name", func(c *notify.Config) { c.Syslog[0].Name = "" }, []string{`syslog: name: required`}},
		{"no dead letters", func(c *notify.Config) { c.DeadLetterDir = "" }, []string{`dead_letter_dir: required`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted a bad config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
			var ce *notify.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("no *ConfigError in %v", err)
			}
		})
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "0123456789abcdef0123\n", 0o600)
	s, err := notify.ReadSecretFile(good)
	if err != nil || s.Reveal() != "0123456789abcdef0123" {
		t.Fatalf("ReadSecretFile = %q, %v", s.Reveal(), err)
	}
	if s.String() != "[REDACTED]" {
		t.Errorf("secret prints as %q", s.String())
	}
	if _, err := notify.ReadSecretFile(write("open", "0123456789abcdef0123", 0o644)); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable secret: %v", err)
	}
	if _, err := notify.ReadSecretFile(write("short", "abc", 0o600)); err == nil || !strings.Contains(err.Error(), "shorter than 16") {
		t.Errorf("short secret: %v", err)
	}

	w := notify.WebhookConfig{SinkConfig: notify.SinkConfig{Name: "soc"}, URL: "https://x.example/h", SecretFile: good}
	opts, err := w.Options(nil, "1.0.0")
	if err != nil || opts.Secret.Reveal() != "0123456789abcdef0123" || opts.Name != "soc" {
		t.Fatalf("Options = %+v, %v", opts, err)
	}
}
