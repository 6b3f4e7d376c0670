package gateway_test

import (
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/gateway"
	"github.com/wardproject/ward/internal/mqtttopic"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
)

func TestAllowed(t *testing.T) {
	own := []string{"devices/a/#"}
	tests := []struct {
		name   string
		filter string
		grants []string
		want   bool
	}{
		{"own-root", "devices/a", own, true},
		{"own-deep", "devices/a/x/y", own, true},
		{"own-hash", "devices/a/#", own, true},
		{"own-plus", "devices/a/+/status", own, true},
		{"other-device", "devices/b/x", own, false},
		{"prefix-id", "devices/ab/x", own, false},
		{"plus-device", "devices/+/x", own, false},
		{"devices-hash", "devices/#", own, false},
		{"hash", "#", own, false},
		{"plus-first", "+/a/x", own, false},
		{"sys", "$SYS/#", []string{"$SYS/#"}, false},
		{"dollar-share", "$share/g/devices/a/x", own, false},
		{"invalid-hash-middle", "devices/a/#/x", own, false},
		{"invalid-mixed-plus", "devices/a+/x", []string{"#"}, false},
		{"invalid-empty", "", own, false},
		{"invalid-nul", "devices/a/\x00", own, false},
		{"plus-grant-covers-literal", "x/1/y", []string{"x/+/y"}, true},
		{"plus-grant-covers-plus", "x/+/y", []string{"x/+/y"}, true},
		{"plus-grant-not-hash", "x/#", []string{"x/+"}, false},
		{"literal-grant-not-plus", "x/+", []string{"x/1"}, false},
		{"grant-hash-covers-parent", "x", []string{"x/#"}, true},
		{"grant-longer", "x", []string{"x/y"}, false},
		{"no-grants", "devices/a/x", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gateway.Allowed(tt.filter, tt.grants); got != tt.want {
				t.Errorf("Allowed(%q, %q) = %v, want %v", tt.filter, tt.grants, got, tt.want)
			}
		})
	}
}

func TestACL(t *testing.T) {
	acl := gateway.NewACL("a", store.Policy{
		Publish:   []string{"telemetry/{id}", "devices/b/#", "#", "bad/#/x"},
		Subscribe: []string{"broadcast/+/all", "+/b/#"},
	})
	tests := []struct {
		name    string
		publish bool
		topic   string
		want    bool
	}{
		{"pub-own", true, "devices/a/x", true},
		{"pub-grant", true, "telemetry/a", true},
		{"pub-grant-other-id", true, "telemetry/b", true}, // the "#" grant allows it; it is not a device tree
		{"pub-other-device-despite-grants", true, "devices/b/x", false},
		{"pub-wildcard", true, "devices/a/+", false},
		{"pub-sys-despite-hash", true, "$SYS/x", false},
		{"pub-own-update-order-despite-own-tree", true, "devices/a/update/cmd", false}, // only Ward gives orders
		{"pub-own-update-status", true, "devices/a/update/status", true},
		{"pub-other-update-order", true, "devices/b/update/cmd", false},
		{"sub-own-update-order", false, "devices/a/update/cmd", true},
		{"sub-own", false, "devices/a/#", true},
		{"sub-grant", false, "broadcast/x/all", true},
		{"sub-grant-plus", false, "broadcast/+/all", true},
		{"sub-grant-crossing", false, "devices/b/x", false},
		{"sub-publish-grant-not-sub", false, "telemetry/a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bool
			if tt.publish {
				got = acl.CanPublish(tt.topic)
			} else {
				got = acl.CanSubscribe(tt.topic)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if z := (gateway.ACL{}); z.CanPublish("devices/a/x") || z.CanSubscribe("devices/a/x") {
		t.Error("zero ACL allows")
	}
	if bad := gateway.NewACL("a/b"); bad.CanPublish("devices/a/b/x") {
		t.Error("ACL for an invalid device ID allows")
	}
	// The gateway's order topic is the update protocol's.
	if got, want := gateway.OrderTopic("sensor-1"), update.OrderTopic("sensor-1"); got != want {
		t.Errorf("gateway.OrderTopic = %q, update.OrderTopic = %q", got, want)
	}
}

// instantiate returns a concrete topic the filter matches, choosing fill for
// each '+' and a suffix for '#'.
func instantiate(filter string, fill func(i int) string, suffix string) string {
	levels := strings.Split(filter, "/")
	out := make([]string, 0, len(levels)+1)
	for i, l := range levels {
		switch l {
		case "+":
			out = append(out, fill(i))
		case "#":
			if suffix != "" {
				out = append(out, suffix)
			}
			if len(out) == 0 {
				out = append(out, "x")
			}
		default:
			out = append(out, l)
		}
	}
	return strings.Join(out, "/")
}

func FuzzACLNoCrossDevice(f *testing.F) {
	seeds := []struct{ filter, grant string }{
		{"devices/a/#", ""}, {"devices/+/x", "devices/+/x"}, {"#", "#"}, {"+/+/x", "+/#"},
		{"devices/#", "devices/#"}, {"devices/b", "devices/b"}, {"+/b/x", "+/b/#"}, {"$SYS/#", "#"},
		{"devices/a/+/#", "devices/a/#"}, {"devices//x", "devices/+/#"}, {"a/b/c", "a/+/c"},
	}
	for _, s := range seeds {
		f.Add(s.filter, s.grant, "b", "z")
	}
	f.Fuzz(func(t *testing.T, filter, grant, other, leaf string) {
		if other == "a" || strings.ContainsAny(other, "/+#$\x00") || other == "" {
			return
		}
		if strings.ContainsAny(leaf, "/+#\x00") {
			return
		}
		acl := gateway.NewACL("a", store.Policy{Publish: []string{grant}, Subscribe: []string{grant}})
		// 1. No topic under devices/<other>/ is ever allowed to device a.
		for _, topic := range []string{"devices/" + other, "devices/" + other + "/" + leaf} {
			if acl.CanPublish(topic) || acl.CanSubscribe(topic) {
				t.Fatalf("device a may use %q (grant %q)", topic, grant)
			}
		}
		// 2. An allowed filter matches no topic in another device's tree:
		// instantiate it toward devices/<other>/... and check.
		if acl.CanSubscribe(filter) {
			fill := func(i int) string {
				if i == 0 {
					return "devices"
				}
				if i == 1 {
					return other
				}
				return leaf
			}
			for _, suffix := range []string{"", other, leaf} {
				topic := instantiate(filter, fill, suffix)
				if strings.HasPrefix(topic, "devices/"+other+"/") || topic == "devices/"+other {
					if mqtttopic.Match(filter, topic) {
						t.Fatalf("allowed filter %q (grant %q) matches %q", filter, grant, topic)
					}
				}
			}
			// "#" as the filter's second level covers devices/<other>.
			if mqtttopic.Match(filter, "devices/"+other+"/"+leaf) || mqtttopic.Match(filter, "devices/"+other) {
				t.Fatalf("allowed filter %q matches device %q's tree", filter, other)
			}
		}
		// 3. Soundness: every instantiation of an allowed filter is allowed
		// as a topic by the same grants (as a subscription).
		if gateway.Allowed(filter, []string{grant}) {
			topic := instantiate(filter, func(int) string { return leaf }, leaf)
			if mqtttopic.ValidTopic(topic) && mqtttopic.Match(filter, topic) && !mqtttopic.Match(grant, topic) {
				t.Fatalf("Allowed(%q, %q) but grant does not match %q", filter, grant, topic)
			}
		}
	})
}
