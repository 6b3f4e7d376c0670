package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
)

// TestPolicyPatchOverAPI: PATCH changes only what it names (setting a
// rate keeps the grants), dry_run writes nothing, an empty patch is
// refused, PUT still replaces, and concurrent patches all apply.
func TestPolicyPatchOverAPI(t *testing.T) {
	e, db := newEnvWith(t, nil)
	op := e.tokens[store.RoleOperator]
	ctx := context.Background()
	if code, body := e.do(t, "POST", "/api/v1/devices", op, `{"id":"d1","model":"cam","policy":{"publish":["a/#"],"subscribe":["s"]}}`); code != 201 {
		t.Fatalf("add: %d %s", code, body)
	}
	policy := func() store.Policy {
		d, err := db.GetDevice(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		return d.Policy
	}
	code, body := e.do(t, "PATCH", "/api/v1/devices/d1/policy", op, `{"messages_per_second": 4}`)
	var res PolicyPatchResponse
	json.Unmarshal(body, &res)
	want := store.Policy{Publish: []string{"a/#"}, Subscribe: []string{"s"}, MessagesPerSecond: 4}
	if code != 200 || !cmp.Equal(res.Policy, want) || !cmp.Equal(policy(), want) || res.DryRun {
		t.Fatalf("patch a rate: %d %s", code, body)
	}
	code, body = e.do(t, "PATCH", "/api/v1/devices/d1/policy?dry_run=true", op, `{"remove_publish": ["a/#"], "subscribe": null}`)
	res = PolicyPatchResponse{}
	json.Unmarshal(body, &res)
	if code != 200 || !res.DryRun || !cmp.Equal(res.Policy, store.Policy{MessagesPerSecond: 4}) || !cmp.Equal(res.PreviousPolicy, want) {
		t.Errorf("dry run: %d %s", code, body)
	}
	if got := policy(); !cmp.Equal(got, want) {
		t.Errorf("dry run wrote %+v", got)
	}
	for _, bad := range []struct{ q, body, msg string }{
		{"", `{}`, "nothing to change"},
		{"", `{"bogus": 1}`, `unknown policy field \"bogus\"`},
		{"", `{"publish": "a"}`, "policy patch"},
		{"?dry_run=maybe", `{"publish": null}`, "dry_run must be true or false"},
	} {
		if code, body := e.do(t, "PATCH", "/api/v1/devices/d1/policy"+bad.q, op, bad.body); code != 400 || !strings.Contains(string(body), bad.msg) {
			t.Errorf("patch %s%s: %d %s, want 400 %q", bad.q, bad.body, code, body, bad.msg)
		}
	}
	if code, _ := e.do(t, "PATCH", "/api/v1/devices/ghost/policy", op, `{"publish": null}`); code != 404 {
		t.Errorf("patch an unknown device: %d", code)
	}
	if got := policy(); !cmp.Equal(got, want) {
		t.Errorf("refused patches changed the policy: %+v", got)
	}

	const n = 12
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("PATCH", e.srv.URL+"/api/v1/devices/d1/policy", strings.NewReader(fmt.Sprintf(`{"add_subscribe": ["c/%d"]}`, i)))
			req.Header.Set("Authorization", "Bearer "+op)
			req.Header.Set("Content-Type", "application/merge-patch+json")
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("concurrent patch %d: %d", i, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if got := policy(); len(got.Subscribe) != n+1 || !cmp.Equal(got.Publish, []string{"a/#"}) {
		t.Errorf("after %d concurrent patches: %+v", n, got)
	}

	if code, body := e.do(t, "PUT", "/api/v1/devices/d1/policy", op, `{"connects_per_minute": 2}`); code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	if got := policy(); !cmp.Equal(got, store.Policy{ConnectsPerMinute: 2}) {
		t.Errorf("PUT did not replace: %+v", got)
	}

	code, body = e.do(t, "PATCH", "/api/v1/models/cam/policy", op, `{"add_publish": ["fleet/cam/#"]}`)
	var mres ModelPolicyPatchResponse
	json.Unmarshal(body, &mres)
	if code != 200 || mres.Model != "cam" || !cmp.Equal(mres.Policy.Publish, []string{"fleet/cam/#"}) {
		t.Errorf("patch a model: %d %s", code, body)
	}
	code, body = e.do(t, "PATCH", "/api/v1/models/cam/policy", op, `{"bytes_per_second": 100}`)
	if ps, _ := db.ListModelPolicies(ctx); code != 200 || len(ps) != 1 || !cmp.Equal(ps[0].Policy, store.Policy{Publish: []string{"fleet/cam/#"}, BytesPerSecond: 100}) {
		t.Errorf("second model patch: %d %s, stored %+v", code, body, ps)
	}
}

// TestDeleteAndImportOverAPI: delete refuses an enrolled device (409)
// and deletes a pending one (204, in the audit log); import registers a
// batch all-or-nothing and answers each token once.
func TestDeleteAndImportOverAPI(t *testing.T) {
	e, db := newEnvWith(t, func(db *sqlite.DB, o *Options) { o.DetectStore = db })
	op := e.tokens[store.RoleOperator]
	ctx := context.Background()
	code, body := e.do(t, "POST", "/api/v1/devices/import", op, `{"devices": [{"id":"i-1","model":"cam","tags":["line-2"]},{"id":"i-2","model":"cam","token_ttl":"72h"}]}`)
	var res ImportDevicesResponse
	json.Unmarshal(body, &res)
	if code != 201 || res.Imported != 2 || len(res.Devices) != 2 || res.Devices[1].ID != "i-2" || res.Devices[0].Token == "" {
		t.Fatalf("import: %d %s", code, body)
	}
	for _, bad := range []struct {
		body string
		code int
		msg  string
	}{
		{`{"devices": [{"id":"j-1","model":"cam"},{"id":"bad id","model":"cam"},{"id":"j-3"}]}`, 400, `device 2 (\"bad id\")`},
		{`{"devices": [{"id":"j-1","model":"cam"},{"id":"i-1","model":"cam"}]}`, 409, "i-1"},
		{`{"devices": [{"id":"j-1","model":"cam"},{"id":"j-1","model":"cam"}]}`, 400, "listed twice"},
		{`{"devices": [{"id":"j-1","model":"cam","token_ttl":"forever"}]}`, 400, `device 1 (\"j-1\")`},
		{`{"devices": []}`, 400, "no device"},
	} {
		if code, body := e.do(t, "POST", "/api/v1/devices/import", op, bad.body); code != bad.code || !strings.Contains(string(body), bad.msg) {
			t.Errorf("import %s: %d %s, want %d %q", bad.body, code, body, bad.code, bad.msg)
		}
	}
	if _, err := db.GetDevice(ctx, "j-1"); err == nil {
		t.Error("a refused import registered j-1")
	}

	if code, body := e.do(t, "DELETE", "/api/v1/devices/i-1", op, ""); code != 204 {
		t.Fatalf("delete a pending device: %d %s", code, body)
	}
	if code, _ := e.do(t, "DELETE", "/api/v1/devices/i-1", op, ""); code != 404 {
		t.Errorf("delete twice: %d", code)
	}
	entries, err := db.ListAudit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Action+" "+en.Target)
	}
	if !strings.Contains(strings.Join(actions, ","), "device.delete i-1") || !strings.Contains(strings.Join(actions, ","), "device.import i-1") {
		t.Errorf("audit log: %v", actions)
	}
}
