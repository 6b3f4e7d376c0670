package assemble

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/netids"
	"github.com/wardproject/ward/internal/netids/kitnet"
)

func TestAssembleRunFinish(t *testing.T) {
	dir := t.TempDir()
	devices := filepath.Join(dir, "devices.csv")
	if err := os.WriteFile(devices, []byte("192.168.1.10,cam-1,camera\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mudDir := filepath.Join(dir, "mud")
	if err := os.Mkdir(mudDir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("..", "mud", "testdata", "camera.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mudDir, "camera.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Learn: 20, Seed: 1, Alerts: filepath.Join(dir, "alerts.jsonl"), Devices: devices, MUDDir: mudDir,
		Blocklist: filepath.Join("..", "rules", "testdata", "blocklist.csv"),
		SaveModel: filepath.Join(dir, "model.json"), Assets: filepath.Join(dir, "assets.json")}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Reloads() {
		t.Error("a blocklist was configured but nothing reloads it")
	}
	r, err := netids.OpenFile(filepath.Join("..", "testdata", "small.pcap"), netids.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := netids.Run(context.Background(), r, s.Sensor, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mf, err := os.Open(cfg.SaveModel)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	if _, err := kitnet.Load(mf); err != nil {
		t.Errorf("saved model does not load: %v", err)
	}
	var assets []json.RawMessage
	if b, err := os.ReadFile(cfg.Assets); err != nil || json.Unmarshal(b, &assets) != nil || len(assets) == 0 {
		t.Errorf("assets file: %v, %d hosts", err, len(assets))
	}
	if _, err := os.Stat(cfg.Alerts); err != nil {
		t.Errorf("alerts file: %v", err)
	}
	// The saved model loads back into an assembled sensor.
	s2, err := New(Config{Model: cfg.SaveModel})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

func TestAssembleErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"format":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"MUD without devices", Config{MUDDir: dir}, "needs --devices"},
		{"missing model", Config{Model: filepath.Join(dir, "none.json")}, "open model"},
		{"not a model", Config{Model: bad}, "not a usable"},
		{"missing devices file", Config{Devices: filepath.Join(dir, "none.csv")}, "open devices file"},
		{"alerts in a missing directory", Config{Alerts: filepath.Join(dir, "no", "alerts.jsonl")}, "open alerts file"},
		{"empty MUD directory", Config{MUDDir: t.TempDir(), Devices: writeFile(t, dir, "d.csv", "10.0.0.1,d,m\n")}, "no MUD files"},
		{"broken MUD file", Config{MUDDir: dir, Devices: writeFile(t, dir, "d.csv", "10.0.0.1,d,m\n")}, "invalid MUD file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to say %q", err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
