package notify

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/secret"
)

// Config is the notify section of Ward's configuration, as cmd/ward maps
// it from YAML. Each sink's Validate checks it alone; Config.Validate also
// checks that names are unique.
type Config struct {
	// DeadLetterDir is Options.DeadLetterDir.
	DeadLetterDir string `yaml:"dead_letter_dir"`
	// QueueSize is Options.QueueSize.
	QueueSize int             `yaml:"queue_size"`
	Webhooks  []WebhookConfig `yaml:"webhooks"`
	Syslog    []SyslogConfig  `yaml:"syslog"`
	MQTT      []MQTTConfig    `yaml:"mqtt"`
}

// SinkConfig holds the settings every sink has; they map onto Route.
type SinkConfig struct {
	// Name names the sink in metrics, logs and dead letters; required and
	// unique.
	Name string `yaml:"name"`
	// MinSeverity is Filter.MinSeverity: low, medium, high, critical or
	// empty for all.
	MinSeverity alert.Severity `yaml:"min_severity"`
	// Changes is Filter.Changes: raised, updated, acknowledged, cleared,
	// mitigated; empty for all.
	Changes []alert.Change `yaml:"changes"`
	// Retries is Route.Retries: 0 means 4, -1 none, at most 20.
	Retries int `yaml:"retries"`
	// QueueSize is Route.QueueSize; 0 means the notify queue_size.
	QueueSize int `yaml:"queue_size"`
}

// Filter returns the filter the config describes.
func (c SinkConfig) Filter() Filter { return Filter{MinSeverity: c.MinSeverity, Changes: c.Changes} }

// Route returns the Route of sink s with c's filter, retries and queue.
func (c SinkConfig) Route(s Sink) Route {
	return Route{Sink: s, Filter: c.Filter(), Retries: c.Retries, QueueSize: c.QueueSize}
}

func (c SinkConfig) validate(kind string) []error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, &ConfigError{Kind: kind, Key: "name", Problem: "required", Hint: "name each sink, e.g. soc"})
	} else if !sinkName.MatchString(c.Name) {
		errs = append(errs, &ConfigError{Kind: kind, Name: c.Name, Key: "name", Problem: "invalid name",
			Hint: "use 1-64 letters, digits, '_', '.', '-'"})
	}
	if err := c.Filter().validate(kind, c.Name); err != nil {
		errs = append(errs, err)
	}
	if c.Retries < -1 || c.Retries > 20 {
		errs = append(errs, &ConfigError{Kind: kind, Name: c.Name, Key: "retries",
			Problem: fmt.Sprintf("%d is out of range", c.Retries), Hint: "use -1 (none), 0 (default 4) up to 20"})
	}
	if c.QueueSize < 0 || c.QueueSize > 1<<20 {
		errs = append(errs, &ConfigError{Kind: kind, Name: c.Name, Key: "queue_size",
			Problem: fmt.Sprintf("%d is out of range", c.QueueSize), Hint: "use 0 (default) up to 1048576"})
	}
	return errs
}

// WebhookConfig is one webhook sink.
type WebhookConfig struct {
	SinkConfig `yaml:",inline"`
	URL        string `yaml:"url"`
	// SecretFile holds the HMAC secret (see ReadSecretFile).
	SecretFile string        `yaml:"secret_file"`
	Timeout    time.Duration `yaml:"timeout"`
}

// Validate checks c without reading the secret file.
func (c WebhookConfig) Validate() error {
	errs := c.validate("webhook")
	if _, err := checkWebhookURL(c.Name, c.URL); err != nil {
		errs = append(errs, err)
	}
	if c.SecretFile == "" {
		errs = append(errs, &ConfigError{Kind: "webhook", Name: c.Name, Key: "secret_file", Problem: "required",
			Hint: "a file holding the shared HMAC secret, mode 0600"})
	}
	if c.Timeout < 0 || c.Timeout > 5*time.Minute {
		errs = append(errs, &ConfigError{Kind: "webhook", Name: c.Name, Key: "timeout",
			Problem: fmt.Sprintf("%v is out of range", c.Timeout), Hint: `use e.g. "10s", at most "5m"`})
	}
	return errors.Join(errs...)
}

// Options returns the WebhookOptions of c with the secret read from
// SecretFile, the TLS configuration and Ward's version.
func (c WebhookConfig) Options(tlsConf *tls.Config, version string) (WebhookOptions, error) {
	key, err := ReadSecretFile(c.SecretFile)
	if err != nil {
		return WebhookOptions{}, &ConfigError{Kind: "webhook", Name: c.Name, Key: "secret_file", Problem: err.Error()}
	}
	return WebhookOptions{Name: c.Name, URL: c.URL, Secret: key, TLS: tlsConf, Timeout: c.Timeout, Version: version}, nil
}

// SyslogConfig is one syslog sink.
type SyslogConfig struct {
	SinkConfig `yaml:",inline"`
	// Network is udp, tcp or tls (default tls).
	Network string `yaml:"network"`
	Address string `yaml:"address"`
	// Format is rfc5424 (default) or cef.
	Format   MessageFormat `yaml:"format"`
	AppName  string        `yaml:"app_name"`
	Hostname string        `yaml:"hostname"`
	Timeout  time.Duration `yaml:"timeout"`
}

// Validate checks c.
func (c SyslogConfig) Validate() error {
	errs := c.validate("syslog")
	bad := func(key, problem, hint string) {
		errs = append(errs, &ConfigError{Kind: "syslog", Name: c.Name, Key: key, Problem: problem, Hint: hint})
	}
	switch c.Network {
	case "", NetworkUDP, NetworkTCP, NetworkTLS:
	default:
		bad("network", fmt.Sprintf("unknown network %q", c.Network), "use udp, tcp or tls")
	}
	if h, p, err := net.SplitHostPort(c.Address); err != nil || h == "" || p == "" {
		bad("address", fmt.Sprintf("%q is not host:port", c.Address), "e.g. siem.example.com:6514")
	}
	switch c.Format {
	case "", MessageRFC5424, MessageCEF:
	default:
		bad("format", fmt.Sprintf("unknown format %q", c.Format), "use rfc5424 or cef")
	}
	if len(c.AppName) > 48 || strings.ContainsFunc(c.AppName, notPrintASCII) {
		bad("app_name", "not 1-48 printable US-ASCII characters", "RFC 5424 APP-NAME, e.g. ward")
	}
	if len(c.Hostname) > 255 || strings.ContainsFunc(c.Hostname, notPrintASCII) {
		bad("hostname", "not 1-255 printable US-ASCII characters", "an FQDN or IP address")
	}
	if c.Timeout < 0 || c.Timeout > 5*time.Minute {
		bad("timeout", fmt.Sprintf("%v is out of range", c.Timeout), `use e.g. "10s", at most "5m"`)
	}
	return errors.Join(errs...)
}

func notPrintASCII(r rune) bool { return r < 33 || r > 126 }

// Options returns the SyslogOptions of c with the TLS configuration.
func (c SyslogConfig) Options(tlsConf *tls.Config) SyslogOptions {
	return SyslogOptions{Name: c.Name, Network: c.Network, Address: c.Address, Format: c.Format,
		AppName: c.AppName, Hostname: c.Hostname, TLS: tlsConf, Timeout: c.Timeout}
}

// MQTTConfig is one MQTT sink; the Publisher (Ward's broker or an
// external one) is chosen by cmd/ward.
type MQTTConfig struct {
	SinkConfig  `yaml:",inline"`
	TopicPrefix string `yaml:"topic_prefix"`
	Retain      bool   `yaml:"retain"`
}

// Validate checks c.
func (c MQTTConfig) Validate() error {
	errs := c.validate("mqtt")
	if c.TopicPrefix != "" {
		if err := checkTopicPrefix(c.Name, c.TopicPrefix); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Options returns the MQTTOptions of c publishing through p.
func (c MQTTConfig) Options(p Publisher) MQTTOptions {
	return MQTTOptions{Name: c.Name, Publisher: p, TopicPrefix: c.TopicPrefix, Retain: c.Retain}
}

// Validate checks every sink and that sink names are unique.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	name := func(kind, n string) {
		if n != "" && seen[n] {
			errs = append(errs, &ConfigError{Kind: kind, Name: n, Key: "name", Problem: "duplicate sink name",
				Hint: "give each sink its own name"})
		}
		seen[n] = true
	}
	for _, w := range c.Webhooks {
		if err := w.Validate(); err != nil {
			errs = append(errs, err)
		}
		name("webhook", w.Name)
	}
	for _, s := range c.Syslog {
		if err := s.Validate(); err != nil {
			errs = append(errs, err)
		}
		name("syslog", s.Name)
	}
	for _, m := range c.MQTT {
		if err := m.Validate(); err != nil {
			errs = append(errs, err)
		}
		name("mqtt", m.Name)
	}
	if len(seen) > 0 && c.DeadLetterDir == "" {
		errs = append(errs, &ConfigError{Kind: "dispatcher", Key: "dead_letter_dir", Problem: "required when a sink is configured",
			Hint: "name a directory for undeliverable notifications, e.g. /var/lib/ward/dead-letters"})
	}
	if c.QueueSize < 0 || c.QueueSize > 1<<20 {
		errs = append(errs, &ConfigError{Kind: "dispatcher", Key: "queue_size",
			Problem: fmt.Sprintf("%d is out of range", c.QueueSize), Hint: "use 0 (default 1024) up to 1048576"})
	}
	return errors.Join(errs...)
}

// ReadSecretFile reads a secret (the webhook's HMAC key) from path,
// without a trailing newline. It refuses a file that group or others may
// read, and a secret shorter than MinSecretBytes.
func ReadSecretFile(path string) (secret.Value, error) {
	if path == "" {
		return "", errors.New("no secret file named")
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("secret file %s is readable by others (mode %v); restrict it: chmod 600 %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if len(s) < MinSecretBytes {
		return "", fmt.Errorf("secret in %s is shorter than %d bytes; generate one: head -c 32 /dev/urandom | base64 > %s", path, MinSecretBytes, path)
	}
	return secret.Value(s), nil
}

// ParseConfig decodes the notify section (its YAML, as config.Config.Notify
// holds it), refusing unknown keys, and validates it (Config.Validate).
// With checkSecrets it also reads every webhook's secret file, as the
// server does at start: `ward config check` reports a missing or
// world-readable secret before the server would refuse to start.
func ParseConfig(section []byte, checkSecrets bool) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(section))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("notify: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	if checkSecrets {
		var errs []error
		for _, w := range c.Webhooks {
			if _, err := w.Options(nil, ""); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}
