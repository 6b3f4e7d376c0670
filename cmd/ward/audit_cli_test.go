package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/store"
)

// TestSuppressCLI: a check the audit does not have is refused by the
// server with the closest name; a real one is suppressed, listed and
// deleted.
func TestSuppressCLI(t *testing.T) {
	w := startForCLI(t)
	check := audit.Checks()[0].ID
	typo := check[:len(check)-1] + "x"
	for _, bad := range []string{"no-such-check", typo} {
		out, err := w.run("audit", "suppress", bad, "--reason", "lab")
		if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), `unknown check "`+bad+`"`) {
			t.Errorf("suppress %s: %v\n%s", bad, err, out)
		}
		if bad == typo && !strings.Contains(err.Error(), "did you mean "+check) {
			t.Errorf("suppress %s: no suggestion: %v", bad, err)
		}
	}
	out := w.must("audit", "suppress", check, "--reason", "lab fleet", "--resource", "device:d1")
	if !strings.Contains(out, "suppression sup-") {
		t.Fatalf("suppress printed %q", out)
	}
	var ss []store.Suppression
	if err := json.Unmarshal([]byte(w.must("audit", "suppress", "list", "-o", "json")), &ss); err != nil || len(ss) != 1 || ss[0].Check != check {
		t.Fatalf("suppress list: %+v %v", ss, err)
	}
	if out := w.must("audit", "suppress", "list"); !strings.Contains(out, ss[0].ID) || !strings.Contains(out, "device:d1") {
		t.Errorf("suppress list table:\n%s", out)
	}
	if out := w.must("audit", "suppress", "delete", ss[0].ID); !strings.Contains(out, "deleted") {
		t.Errorf("delete printed %q", out)
	}
	if _, err := w.run("audit", "suppress", "delete", ss[0].ID); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("delete twice: %v", err)
	}
	if err := json.Unmarshal([]byte(w.must("audit", "suppress", "list", "-o", "json")), &ss); err != nil || len(ss) != 0 {
		t.Errorf("after delete: %+v %v", ss, err)
	}
}

// TestModelCLI: ward model show counts a model's devices by status and
// firmware and shows its policy and metadata; list shows the models with
// a policy; an unknown model is a 404.
func TestModelCLI(t *testing.T) {
	w := startForCLI(t)
	for _, d := range [][2]string{{"c-1", "1.0"}, {"c-2", "1.0"}, {"c-3", "1.1"}} {
		w.must("device", "add", "--id", d[0], "--model", "cam", "--firmware", d[1])
	}
	w.must("device", "quarantine", "c-3")
	w.must("device", "policy", "cam", "--model", "--messages-per-second", "7")
	w.must("model", "set", "cam", "--support-ends", "2030-12-31")
	var v api.ModelView
	if err := json.Unmarshal([]byte(w.must("model", "show", "cam", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Devices != 3 || v.ByStatus[store.StatusPending] != 2 || v.ByStatus[store.StatusQuarantined] != 1 || v.Firmware["1.0"] != 2 ||
		v.Policy.MessagesPerSecond != 7 || v.Info == nil || v.Info.SupportEnds.Year() != 2030 {
		t.Errorf("model show: %+v", v)
	}
	out := w.must("model", "show", "cam")
	for _, want := range []string{"Devices:          3 (2 pending, 1 quarantined)", "Support ends:     2030-12-31", "messages_per_second:", "1.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("model show lacks %q:\n%s", want, out)
		}
	}
	if out := w.must("model", "list"); !strings.Contains(out, "cam") || !strings.Contains(out, "7") {
		t.Errorf("model list:\n%s", out)
	}
	if _, err := w.run("model", "show", "nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown model: %v", err)
	}
}
