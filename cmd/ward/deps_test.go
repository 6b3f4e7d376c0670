package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies holds the package graph to its design (as tailscale's
// tstest/deptest does): what only consumes gateway events, detection
// results or audit facts must not link the MQTT broker, and the event
// vocabulary stays a leaf. It asks the go command for each package's
// dependencies, tests included.
func TestDependencies(t *testing.T) {
	const mod = "github.com/wardproject/ward/"
	broker := []string{mod + "internal/mochi", mod + "internal/gateway"}
	tests := []struct {
		pkg       string
		deny      []string // import paths, or prefixes ending in "/"
		onlyStd   bool     // nothing outside the standard library
		whyDenied string
	}{
		{pkg: "internal/detect", deny: broker, whyDenied: "detection consumes gwevent.Event, never the gateway"},
		{pkg: "internal/compliance", deny: broker, whyDenied: "the audit reads the store, never the broker"},
		{pkg: "internal/api", deny: broker, whyDenied: "the API reaches the gateway through interfaces it declares"},
		{pkg: "internal/rollout", deny: broker, whyDenied: "rollouts consume gwevent.Event and publish through an interface"},
		{pkg: "internal/gwevent", onlyStd: true, whyDenied: "the event vocabulary is a leaf"},
		{pkg: "internal/mqtttopic", onlyStd: true, whyDenied: "topic matching is a leaf"},
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.pkg, "/", "_"), func(t *testing.T) {
			// -deps -test: the package, its tests and everything they import.
			out, err := exec.Command(goBin, "list", "-deps", "-test", "-f", "{{.ImportPath}} {{.Standard}}", "../../"+tt.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list %s: %v\n%s", tt.pkg, err, out)
			}
			n := 0
			for line := range strings.Lines(string(out)) {
				path, std, _ := strings.Cut(strings.TrimSpace(line), " ")
				n++
				path, _, _ = strings.Cut(path, " [") // test variants: "p [p.test]"
				if tt.onlyStd && std != "true" && path != mod+tt.pkg && !strings.HasPrefix(path, mod+tt.pkg+"_test") && path != mod+tt.pkg+".test" {
					t.Errorf("%s depends on %s, outside the standard library (%s)", tt.pkg, path, tt.whyDenied)
				}
				for _, d := range tt.deny {
					if path == d {
						t.Errorf("%s depends on %s (%s); go mod why or go list -deps shows the path", tt.pkg, d, tt.whyDenied)
					}
				}
			}
			if n < 2 {
				t.Fatalf("go list %s listed %d packages: %s", tt.pkg, n, out)
			}
		})
	}
}
