package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzConfigFile: any file content yields a Config or a *config.Error, never a panic.
func FuzzConfigFile(f *testing.F) {
	f.Add("data_dir: /x\ngateway:\n  messages_per_second: 5\n")
	f.Add("hostname: [a, b]\n")
	f.Add("a: {b: [c, {d: e}]}\n")
	f.Add("- 1\n- 2\n")
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(nil, []string{"WARD_CONFIG=" + p})
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
	})
}
