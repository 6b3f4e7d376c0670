package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	. "github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/store"
)

func TestPolicyPatchApply(t *testing.T) {
	cur := store.Policy{Publish: []string{"a/#", "b"}, Subscribe: []string{"s"}, MessagesPerSecond: 5, MaxMessageBytes: 100}
	tests := []struct {
		name    string
		doc     string
		want    store.Policy
		wantErr string
	}{
		{"rate-keeps-grants", `{"messages_per_second": 9}`,
			store.Policy{Publish: []string{"a/#", "b"}, Subscribe: []string{"s"}, MessagesPerSecond: 9, MaxMessageBytes: 100}, ""},
		{"null-resets", `{"max_message_bytes": null, "subscribe": null}`,
			store.Policy{Publish: []string{"a/#", "b"}, MessagesPerSecond: 5}, ""},
		{"list-replaced-whole", `{"publish": ["x"]}`,
			store.Policy{Publish: []string{"x"}, Subscribe: []string{"s"}, MessagesPerSecond: 5, MaxMessageBytes: 100}, ""},
		{"add-and-remove", `{"add_publish": ["c", "a/#"], "remove_publish": ["b"], "add_subscribe": ["t"]}`,
			store.Policy{Publish: []string{"a/#", "c"}, Subscribe: []string{"s", "t"}, MessagesPerSecond: 5, MaxMessageBytes: 100}, ""},
		{"remove-missing-is-no-op", `{"remove_subscribe": ["nope"]}`, cur, ""},
		{"empty", `{}`, cur, ""},
		{"unknown-field", `{"max_messages": 3}`, cur, `unknown policy field "max_messages"`},
		{"wrong-type", `{"publish": 5}`, cur, "cannot unmarshal"},
		{"negative-limit", `{"bytes_per_second": -1}`, cur, "must not be negative"},
		{"bad-filter", `{"add_publish": ["a/#/b"]}`, cur, "'#' must be a whole last level"},
		{"add-and-remove-same", `{"add_publish": ["z"], "remove_publish": ["z"]}`, cur, "both added and removed"},
		{"not-an-object", `["publish"]`, cur, "JSON object"},
		{"null", `null`, cur, "JSON object"},
		{"two-values", `{} {}`, cur, "one JSON object"},
		{"list-op-not-a-list", `{"add_publish": "x"}`, cur, "list of topic filters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pp, err := ParsePolicyPatch([]byte(tt.doc))
			var got store.Policy
			if err == nil {
				got, err = pp.Apply(cur)
			}
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want ErrBadRequest with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestConcurrentPolicyPatches: patches of one device sent at once, each
// adding its own grant or setting its own limit, all apply (the
// read-modify-write is one store transaction).
func TestConcurrentPolicyPatches(t *testing.T) {
	r, _, _, _ := newRegistry(t)
	ctx := context.Background()
	if _, _, err := r.Add(ctx, NewDevice{ID: "d1", Model: "m", Policy: store.Policy{Subscribe: []string{"keep"}}}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doc := fmt.Sprintf(`{"add_publish": ["t/%d"]}`, i)
			if i == 7 {
				doc = `{"messages_per_second": 3, "add_publish": ["t/7"]}`
			}
			pp, err := ParsePolicyPatch([]byte(doc))
			if err == nil {
				_, err = r.PatchPolicy(ctx, "d1", pp, false)
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	v, err := r.Get(ctx, "d1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Policy.Publish) != n || v.Policy.MessagesPerSecond != 3 || !cmp.Equal(v.Policy.Subscribe, []string{"keep"}) {
		t.Errorf("after %d concurrent patches: %+v", n, v.Policy)
	}
}

// TestPolicyPatchDryRun: a dry run answers the result and writes nothing.
func TestPolicyPatchDryRun(t *testing.T) {
	r, db, _, _ := newRegistry(t)
	ctx := context.Background()
	if _, _, err := r.Add(ctx, NewDevice{ID: "d1", Model: "m", Policy: store.Policy{Publish: []string{"a"}}}); err != nil {
		t.Fatal(err)
	}
	pp, _ := ParsePolicyPatch([]byte(`{"add_publish": ["b"], "connects_per_minute": 2}`))
	ch, err := r.PatchPolicy(ctx, "d1", pp, true)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Policy{Publish: []string{"a", "b"}, ConnectsPerMinute: 2}
	if !cmp.Equal(ch.Device.Policy, want) || !cmp.Equal(ch.Previous, store.Policy{Publish: []string{"a"}}) {
		t.Errorf("dry run: previous %+v, result %+v", ch.Previous, ch.Device.Policy)
	}
	if d, _ := db.GetDevice(ctx, "d1"); !cmp.Equal(d.Policy, store.Policy{Publish: []string{"a"}}) {
		t.Errorf("dry run wrote %+v", d.Policy)
	}
	mch, err := r.PatchModelPolicy(ctx, "cam", pp, true)
	if err != nil || !cmp.Equal(mch.Model.Policy, store.Policy{Publish: []string{"b"}, ConnectsPerMinute: 2}) {
		t.Errorf("model dry run: %+v %v", mch, err)
	}
	if ps, _ := db.ListModelPolicies(ctx); len(ps) != 0 {
		t.Errorf("model dry run wrote %+v", ps)
	}
	if _, err := r.PatchPolicy(ctx, "nope", pp, true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown device: %v", err)
	}
}

func FuzzParsePolicyPatch(f *testing.F) {
	for _, s := range []string{`{}`, `{"publish": null}`, `{"add_publish": ["a/+/b"], "remove_subscribe": ["x"]}`,
		`{"messages_per_second": 1e308}`, `{"max_message_bytes": 1.5}`, `[]`, `{"publish": [1]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		pp, err := ParsePolicyPatch(doc)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error without ErrBadRequest: %v", err)
			}
			return
		}
		base := store.Policy{Publish: []string{"p"}, Subscribe: []string{"s"}, MessagesPerSecond: 1}
		got, err := pp.Apply(base)
		if err != nil {
			return
		}
		if err := CheckPolicy(got); err != nil {
			t.Fatalf("applied policy fails its check: %+v: %v", got, err)
		}
		// Applying the same patch twice changes nothing more.
		again, err := pp.Apply(got)
		if err != nil || !cmp.Equal(got, again) {
			t.Fatalf("patch not idempotent: %+v then %+v (%v)", got, again, err)
		}
	})
}
