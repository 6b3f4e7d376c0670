package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/wardproject/ward/internal/store"
)

// PolicyPatch is a change to a policy (a device's or a model's) that
// names only what changes, so that two changes made at once both apply.
//
// Merge is an RFC 7396 JSON merge patch of store.Policy: a member set to
// a value replaces that field (a list is replaced whole), a member set to
// null resets it (no grants, the default limit), a member left out is
// kept. Then the grants in RemovePublish and RemoveSubscribe are taken
// out and those in AddPublish and AddSubscribe added (each once).
type PolicyPatch struct {
	Merge                          map[string]json.RawMessage
	AddPublish, AddSubscribe       []string
	RemovePublish, RemoveSubscribe []string
}

// The members of a patch document (ParsePolicyPatch) that are not
// store.Policy's fields: the grant list operations.
const (
	patchAddPublish      = "add_publish"
	patchAddSubscribe    = "add_subscribe"
	patchRemovePublish   = "remove_publish"
	patchRemoveSubscribe = "remove_subscribe"
)

// MaxPatchGrants bounds the grants a patch adds or removes.
const MaxPatchGrants = 1000

// ParsePolicyPatch reads a patch document: a JSON object whose members
// are store.Policy's (merge patch, see PolicyPatch) and add_publish,
// add_subscribe, remove_publish, remove_subscribe (lists of topic
// filters). Anything else is refused (ErrBadRequest).
func ParsePolicyPatch(doc []byte) (PolicyPatch, error) {
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(&members); err != nil || members == nil {
		return PolicyPatch{}, fmt.Errorf("%w: a policy patch is a JSON object: %v", ErrBadRequest, orNull(err))
	}
	if dec.More() {
		return PolicyPatch{}, fmt.Errorf("%w: a policy patch is one JSON object", ErrBadRequest)
	}
	var p PolicyPatch
	lists := map[string]*[]string{patchAddPublish: &p.AddPublish, patchAddSubscribe: &p.AddSubscribe,
		patchRemovePublish: &p.RemovePublish, patchRemoveSubscribe: &p.RemoveSubscribe}
	for k, v := range members {
		dst, ok := lists[k]
		if !ok {
			if !slices.Contains(policyFields(), k) {
				return PolicyPatch{}, fmt.Errorf("%w: unknown policy field %q (fields: %s; list operations: %s, %s, %s, %s)", ErrBadRequest, k,
					strings.Join(policyFields(), ", "), patchAddPublish, patchAddSubscribe, patchRemovePublish, patchRemoveSubscribe)
			}
			if p.Merge == nil {
				p.Merge = map[string]json.RawMessage{}
			}
			p.Merge[k] = v
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return PolicyPatch{}, fmt.Errorf("%w: %s must be a list of topic filters", ErrBadRequest, k)
		}
		if len(*dst) > MaxPatchGrants {
			return PolicyPatch{}, fmt.Errorf("%w: %s lists more than %d topic filters", ErrBadRequest, k, MaxPatchGrants)
		}
	}
	// Type errors in the merge members show now, not at the first apply.
	if _, err := p.Apply(store.Policy{}); err != nil {
		return PolicyPatch{}, err
	}
	return p, nil
}

func orNull(err error) error {
	if err == nil {
		return errors.New("got null")
	}
	return err
}

// policyFields is store.Policy's JSON member names, sorted.
func policyFields() []string {
	all := store.Policy{Publish: []string{""}, Subscribe: []string{""}, MaxMessageBytes: 1, MessagesPerSecond: 1, BytesPerSecond: 1, ConnectsPerMinute: 1}
	b, _ := json.Marshal(all)
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Empty reports whether the patch changes nothing whatever it is applied to.
func (pp PolicyPatch) Empty() bool {
	return len(pp.Merge)+len(pp.AddPublish)+len(pp.AddSubscribe)+len(pp.RemovePublish)+len(pp.RemoveSubscribe) == 0
}

// Apply returns p with the patch applied and checked (CheckPolicy).
func (pp PolicyPatch) Apply(p store.Policy) (store.Policy, error) {
	for _, both := range [][2][]string{{pp.AddPublish, pp.RemovePublish}, {pp.AddSubscribe, pp.RemoveSubscribe}} {
		for _, f := range both[0] {
			if slices.Contains(both[1], f) {
				return p, fmt.Errorf("%w: topic grant %q is both added and removed", ErrBadRequest, f)
			}
		}
	}
	out := p
	if len(pp.Merge) > 0 {
		cur, err := json.Marshal(p)
		if err != nil {
			return p, err
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(cur, &doc); err != nil {
			return p, err
		}
		for k, v := range pp.Merge {
			if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
				delete(doc, k)
			} else {
				doc[k] = v
			}
		}
		merged, _ := json.Marshal(doc)
		dec := json.NewDecoder(bytes.NewReader(merged))
		dec.DisallowUnknownFields()
		out = store.Policy{}
		if err := dec.Decode(&out); err != nil {
			return p, fmt.Errorf("%w: policy patch: %v", ErrBadRequest, err)
		}
	}
	out.Publish = editGrants(out.Publish, pp.AddPublish, pp.RemovePublish)
	out.Subscribe = editGrants(out.Subscribe, pp.AddSubscribe, pp.RemoveSubscribe)
	if err := CheckPolicy(out); err != nil {
		return p, err
	}
	return out, nil
}

// editGrants returns list without remove and with add appended, each
// grant once, in a new slice (nil when empty).
func editGrants(list, add, remove []string) []string {
	var out []string
	for _, f := range append(slices.Clone(list), add...) {
		if !slices.Contains(remove, f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// PolicyChange is the result of a policy patch: the policy before and
// the record after (not written on a dry run).
type PolicyChange struct {
	Previous store.Policy
	Device   store.Device      // PatchPolicy
	Model    store.ModelPolicy // PatchModelPolicy
}

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("dry run")

// PatchPolicy applies a patch to a device's policy in one store
// transaction, so that concurrent patches of one device all apply. With
// dryRun nothing is written and the result is what the patch would do.
func (r *Registry) PatchPolicy(ctx context.Context, id string, pp PolicyPatch, dryRun bool) (PolicyChange, error) {
	var ch PolicyChange
	d, err := r.opts.Store.UpdateDevice(ctx, id, func(d *store.Device) error {
		p, err := pp.Apply(d.Policy)
		if err != nil {
			return err
		}
		ch.Previous = d.Policy
		d.Policy = p
		d.UpdatedAt = r.now().UTC()
		if dryRun {
			ch.Device = *d
			return errDryRun
		}
		return nil
	})
	if dryRun && errors.Is(err, errDryRun) {
		return ch, nil
	}
	if err != nil {
		return ch, fmt.Errorf("policy of device %s: %w", id, err)
	}
	ch.Device = d
	r.notify(d)
	return ch, nil
}

// PatchModelPolicy applies a patch to a model's policy in one store
// transaction (see PatchPolicy).
func (r *Registry) PatchModelPolicy(ctx context.Context, model string, pp PolicyPatch, dryRun bool) (PolicyChange, error) {
	if model == "" {
		return PolicyChange{}, fmt.Errorf("%w: model is required", ErrBadRequest)
	}
	if err := checkText("model", model, 128); err != nil {
		return PolicyChange{}, err
	}
	var ch PolicyChange
	mp, err := r.opts.Store.UpdateModelPolicy(ctx, model, func(p *store.Policy) error {
		np, err := pp.Apply(*p)
		if err != nil {
			return err
		}
		ch.Previous, *p = *p, np
		if dryRun {
			ch.Model = store.ModelPolicy{Model: model, Policy: np}
			return errDryRun
		}
		return nil
	})
	if dryRun && errors.Is(err, errDryRun) {
		return ch, nil
	}
	if err != nil {
		return ch, fmt.Errorf("policy of model %s: %w", model, err)
	}
	ch.Model = mp
	if r.opts.Gateway != nil {
		r.opts.Gateway.SetModelPolicy(mp)
	}
	return ch, nil
}
