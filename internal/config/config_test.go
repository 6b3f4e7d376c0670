package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ward.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := Load(flags(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "./ward-data" || c.HTTPSAddr != ":8443" || c.MQTTAddr != ":8883" || c.Detect.Window != time.Minute || c.Enroll.TokenTTL != 24*time.Hour || c.Store.PostgresUrgentConns != 2 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "data_dir: /from/file\nhttps_addr: ':1'\nmqtt_addr: ':2'\ngateway:\n  messages_per_second: 7\nhostname: [a.example, b.example]\n")
	env := []string{"WARD_CONFIG=" + file, "WARD_HTTPS_ADDR=:10", "WARD_MQTT_ADDR=:20"}
	c, err := Load(flags(t, "--mqtt-addr", ":200", "--detect-window", "10s"), env)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ got, want, src string }{
		{c.DataDir, "/from/file", file + ":1"},
		{c.HTTPSAddr, ":10", "env WARD_HTTPS_ADDR"},
		{c.MQTTAddr, ":200", "flag --mqtt-addr"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if c.Gateway.MessagesPerSecond != 7 || c.Detect.Window != 10*time.Second || strings.Join(c.Hostnames, ",") != "a.example,b.example" {
		t.Errorf("values: %+v", c)
	}
	src := map[string]string{}
	for _, e := range c.Effective() {
		src[e.Key] = e.Source
	}
	if src["data_dir"] != file+":1" || src["https_addr"] != "env WARD_HTTPS_ADDR" || src["mqtt_addr"] != "flag --mqtt-addr" || src["log.level"] != "default" {
		t.Errorf("sources: %v", src)
	}
}

// TestAllowCNIdentity: the CN fallback is off unless set, and can be set
// from each source (a bare flag turns it on).
func TestAllowCNIdentity(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  []string
		args []string
		want bool
	}{
		{"default-off", "", nil, nil, false},
		{"file", "gateway:\n  allow_cn_identity: true\n", nil, nil, true},
		{"env", "", []string{"WARD_GATEWAY_ALLOW_CN_IDENTITY=true"}, nil, true},
		{"bare-flag", "", nil, []string{"--gateway-allow-cn-identity"}, true},
		{"flag-over-env", "", []string{"WARD_GATEWAY_ALLOW_CN_IDENTITY=true"}, []string{"--gateway-allow-cn-identity=false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if tt.file != "" {
				env = append(env, "WARD_CONFIG="+writeFile(t, tt.file))
			}
			c, err := Load(flags(t, tt.args...), env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Gateway.AllowCNIdentity != tt.want {
				t.Errorf("AllowCNIdentity = %v, want %v", c.Gateway.AllowCNIdentity, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     []string
		args    []string
		key     string
		srcPart string
	}{
		{"unknown-file-key", "data_dir: x\ngatway:\n  listen: y\n", nil, nil, "gatway", ":2"},
		{"unknown-nested-key", "gateway:\n  max_messages: 3\n", nil, nil, "gateway.max_messages", ":2"},
		{"bad-duration-file", "enroll:\n  token_ttl: tomorrow\n", nil, nil, "enroll.token_ttl", ":2"},
		{"bad-number-env", "", []string{"WARD_GATEWAY_MAX_MESSAGE_BYTES=lots"}, nil, "gateway.max_message_bytes", "env"},
		{"unknown-env", "", []string{"WARD_DATADIR=x"}, nil, "WARD_DATADIR", "environment"},
		{"bad-flag", "", nil, []string{"--log-level", "loud"}, "log.level", "flag"},
		{"half-imported-ca", "", nil, []string{"--ca-cert", "x.pem"}, "pki.ca_cert", "flag"},
		{"window-too-short", "", nil, []string{"--detect-window", "10ms"}, "detect.window", "flag"},
		{"not-yaml", "data_dir: [unclosed\n", nil, nil, "config", ".yaml"},
		{"bad-bool-env", "", []string{"WARD_GATEWAY_ALLOW_CN_IDENTITY=maybe"}, nil, "gateway.allow_cn_identity", "env"},
		{"stream-buffer-zero", "", []string{"WARD_STREAM_BUFFER=0"}, nil, "stream.buffer", "env"},
		{"stream-heartbeat-beyond-the-cli-idle", "stream:\n  heartbeat: 2m\n", nil, nil, "stream.heartbeat", ":2"},
		{"stream-limit-negative", "", nil, []string{"--stream-max-per-principal", "-1"}, "stream.max_per_principal", "flag"},
		{"pprof-all-interfaces", "", nil, []string{"--pprof-addr", "0.0.0.0:6060"}, "pprof_addr", "flag"},
		{"pprof-no-host", "", []string{"WARD_PPROF_ADDR=:6060"}, nil, "pprof_addr", "env"},
		{"pprof-public-file", "pprof_addr: 192.0.2.7:6060\n", nil, nil, "pprof_addr", ":1"},
		{"role-unknown-flag", "", nil, []string{"--role", "gatewya"}, "role", "flag"},
		{"role-unknown-env", "", []string{"WARD_ROLE=worker"}, nil, "role", "env"},
		{"role-without-cluster", "role: gateway\n", nil, nil, "role", ":1"},
		{"urgent-conns-zero", "", []string{"WARD_STORE_POSTGRES_URGENT_CONNS=0"}, nil, "store.postgres_urgent_conns", "env"},
		{"urgent-conns-huge", "", nil, []string{"--store-postgres-urgent-conns", "1000"}, "store.postgres_urgent_conns", "flag"},
		{"role-without-nats", "", []string{"WARD_STORE_POSTGRES_DSN=postgres://x/y", "WARD_ROLE=api"}, nil, "role", "env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if tt.file != "" {
				env = append(env, "WARD_CONFIG="+writeFile(t, tt.file))
			}
			_, err := Load(flags(t, tt.args...), env)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want *config.Error", err)
			}
			if ce.Key != tt.key || !strings.Contains(ce.Source, tt.srcPart) {
				t.Errorf("error names key %q source %q; want %q and a source containing %q (%v)", ce.Key, ce.Source, tt.key, tt.srcPart, err)
			}
		})
	}
}

func TestPassphraseNeverPrinted(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pf, []byte("hunter2\n"), 0o600)
	c, err := Load(flags(t, "--ca-passphrase-file", pf), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.PKI.KeyPassphrase) != "hunter2" {
		t.Errorf("passphrase from file = %q", c.PKI.KeyPassphrase)
	}
	for _, e := range c.Effective() {
		if strings.Contains(e.Value, "hunter2") {
			t.Errorf("effective config shows the passphrase under %s", e.Key)
		}
	}
	c, _ = Load(flags(t), []string{"WARD_CA_PASSPHRASE=s3cret"})
	if string(c.PKI.KeyPassphrase) != "s3cret" {
		t.Error("WARD_CA_PASSPHRASE ignored")
	}
}

func TestClient(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	RegisterClientFlags(fs)
	fs.Parse([]string{"--server", "https://flag:8443/"})
	c, err := LoadClient(fs, []string{"WARD_SERVER=https://env:1", "WARD_TOKEN=t", "WARD_CA=ca.pem"}, true)
	if err != nil || c.Server != "https://flag:8443" || c.Token != "t" || c.CA != "ca.pem" {
		t.Errorf("LoadClient = %+v, %v", c, err)
	}
	fs2 := pflag.NewFlagSet("x", pflag.ContinueOnError)
	RegisterClientFlags(fs2)
	if _, err := LoadClient(fs2, []string{"WARD_SERVER=http://plain:80", "WARD_TOKEN=t"}, true); err == nil {
		t.Error("plain http server accepted")
	}
	if _, err := LoadClient(fs2, []string{"WARD_SERVER=https://x:1"}, true); err == nil {
		t.Error("missing token accepted")
	}
}

// TestPprofAddr: off by default; a loopback address from any source.
func TestPprofAddr(t *testing.T) {
	c, err := Load(flags(t), nil)
	if err != nil || c.PprofAddr != "" {
		t.Fatalf("default pprof_addr %q, %v; want off", c.PprofAddr, err)
	}
	for _, tt := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--pprof-addr", "127.0.0.1:6060"}, "127.0.0.1:6060"},
		{[]string{"WARD_PPROF_ADDR=[::1]:6060"}, nil, "[::1]:6060"},
		{[]string{"WARD_CONFIG=" + writeFile(t, "pprof_addr: localhost:6060\n")}, nil, "localhost:6060"},
	} {
		c, err := Load(flags(t, tt.args...), tt.env)
		if err != nil || c.PprofAddr != tt.want {
			t.Errorf("%v %v: pprof_addr %q, %v; want %q", tt.env, tt.args, c.PprofAddr, err, tt.want)
		}
	}
}

// TestRole: --role takes any case and keeps the canonical spelling; an
// unknown role is refused with the closest one; a part-role with the
// cluster's store and bus is accepted.
func TestRole(t *testing.T) {
	cluster := []string{"WARD_STORE_POSTGRES_DSN=postgres://db/ward", "WARD_BUS_NATS_URL=nats://127.0.0.1:4222"}
	c, err := Load(flags(t, "--role", "Detector"), cluster)
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != RoleDetector {
		t.Errorf("role = %q, want %q", c.Role, RoleDetector)
	}
	if c, err := Load(flags(t), nil); err != nil || c.Role != RoleAll {
		t.Errorf("default role = %q, %v; want all", c.Role, err)
	}
	_, err = Load(flags(t, "--role", "gatewya"), cluster)
	if err == nil || !strings.Contains(err.Error(), "did you mean gateway?") {
		t.Errorf("--role gatewya: %v, want a did-you-mean gateway", err)
	}
	_, err = Load(flags(t, "--role", "api"), nil)
	if err == nil || !strings.Contains(err.Error(), "store.postgres_dsn") || !strings.Contains(err.Error(), "--role all") {
		t.Errorf("--role api on a single node: %v, want the cluster's settings named", err)
	}
}

// TestCommandFlagWins: a command whose own flag has a setting's name
// (ward update keys rotate --role root) keeps it, and Load does not read
// it as the setting.
func TestCommandFlagWins(t *testing.T) {
	fs := pflag.NewFlagSet("rotate", pflag.ContinueOnError)
	fs.String("role", "", "the TUF role to rotate")
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--role", "root"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(fs, nil)
	if err != nil {
		t.Fatalf("Load read the command's own --role as the setting: %v", err)
	}
	if c.Role != RoleAll {
		t.Fatalf("role = %q, want the default", c.Role)
	}
}
