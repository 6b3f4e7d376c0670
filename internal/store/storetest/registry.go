package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/store"
)

// testCreateDevices: a batch is stored whole with its tokens, and a batch
// with one existing or repeated ID stores nothing and names the ID.
func testCreateDevices(t *testing.T, s store.Store) {
	ctx := context.Background()
	batch := func(prefix string, n int) ([]store.Device, []store.EnrollToken) {
		var ds []store.Device
		var ts []store.EnrollToken
		for i := range n {
			id := fmt.Sprintf("%s-%04d", prefix, i)
			ds = append(ds, store.Device{ID: id, Model: "m", Firmware: "1.0", Tags: []string{"line-3"}, Status: store.StatusPending,
				Policy: store.Policy{Publish: []string{"f/x"}}, CreatedAt: t0, UpdatedAt: t0})
			ts = append(ts, store.EnrollToken{DeviceID: id, Hash: []byte(fmt.Sprintf("%032d", i)), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
		}
		return ds, ts
	}
	ds, ts := batch("a", 1200) // more than one chunk
	if err := s.CreateDevices(ctx, ds, ts); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListDevices(ctx)
	if err != nil || len(got) != 1200 {
		t.Fatalf("ListDevices: %d devices, %v", len(got), err)
	}
	if diff := cmp.Diff(ds[7], got[7]); diff != "" {
		t.Errorf("device 7 (-want +got):\n%s", diff)
	}
	if page, _, err := s.QueryDevices(ctx, store.DeviceQuery{Tag: "line-3", Limit: 10}); err != nil || len(page) != 10 {
		t.Errorf("imported devices by tag: %d, %v", len(page), err)
	}
	tok, err := s.GetEnrollToken(ctx, ds[1199].ID)
	if err != nil || string(tok.Hash) != string(ts[1199].Hash) || !tok.ExpiresAt.Equal(ts[1199].ExpiresAt) {
		t.Errorf("token of the last device: %+v %v", tok, err)
	}

	// One existing ID in the middle of a new batch: nothing of it is stored.
	ds2, ts2 := batch("b", 600)
	ds2[550], ts2[550].DeviceID = ds[3], ds[3].ID
	err = s.CreateDevices(ctx, ds2, ts2)
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), ds[3].ID) {
		t.Fatalf("batch with an existing ID: %v, want ErrConflict naming %s", err, ds[3].ID)
	}
	if _, err := s.GetDevice(ctx, ds2[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused batch stored its first device: %v", err)
	}
	// An ID repeated within the batch.
	ds3, ts3 := batch("c", 3)
	ds3[2], ts3[2].DeviceID = ds3[0], ds3[0].ID
	if err := s.CreateDevices(ctx, ds3, ts3); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("batch with a repeated ID: %v, want ErrConflict", err)
	}
	if _, err := s.GetDevice(ctx, ds3[1].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused batch stored a device: %v", err)
	}
}

// testDeleteDevice: a never-enrolled device goes with its token and
// events; an enrolled one (even revoked since) is refused with
// ErrEnrolled and kept whole.
func testDeleteDevice(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := lc{s: s, now: t0}
	l.setup(t, "never", store.StatusPending)
	if err := s.AddEvents(ctx, []store.Event{{DeviceID: "never", Time: t0, Kind: "registered"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDevice(ctx, "never"); err != nil {
		t.Fatalf("delete a pending device: %v", err)
	}
	if _, err := s.GetDevice(ctx, "never"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted device still there: %v", err)
	}
	if _, err := s.GetEnrollToken(ctx, "never"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted device's token still there: %v", err)
	}
	if evs, _ := s.ListEvents(ctx, "never", 10); len(evs) != 0 {
		t.Errorf("deleted device's events still there: %v", evs)
	}
	if err := s.DeleteDevice(ctx, "never"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: %v, want ErrNotFound", err)
	}
	// The ID can be registered again.
	l.setup(t, "never", store.StatusPending)

	for _, st := range []store.DeviceStatus{store.StatusActive, store.StatusQuarantined, store.StatusRevoked, store.StatusRetired} {
		id := "enrolled-" + string(st)
		l.setup(t, id, st)
		err := s.DeleteDevice(ctx, id)
		if !errors.Is(err, store.ErrEnrolled) {
			t.Errorf("delete a %s device that enrolled: %v, want ErrEnrolled", st, err)
		}
		if d, err := s.GetDevice(ctx, id); err != nil || d.Status != st {
			t.Errorf("refused delete changed the %s device: %+v %v", st, d, err)
		}
		if cs, _ := s.ListCertificates(ctx, id); len(cs) == 0 {
			t.Errorf("refused delete lost the %s device's certificates", st)
		}
	}
}

// testDeleteRacesEnrollment runs a delete and an enrollment with the
// device's token at once, many times: exactly one wins. Either the
// device enrolled (it holds a certificate and is kept: the delete got
// ErrEnrolled) or it is gone (the enrollment got ErrNotFound and no
// certificate was stored).
func testDeleteRacesEnrollment(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := lc{s: s, now: t0}
	wins := map[string]int{}
	for i := range 40 {
		id := fmt.Sprintf("race-%d", i)
		l.setup(t, id, store.StatusPending)
		var errDel, errEnroll error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() { defer wg.Done(); <-start; errDel = s.DeleteDevice(ctx, id) }()
		go func() { defer wg.Done(); <-start; _, errEnroll = l.enroll(ctx, id) }()
		close(start)
		wg.Wait()
		d, getErr := s.GetDevice(ctx, id)
		certs, _ := s.ListCertificates(ctx, id)
		switch {
		case errDel == nil && errors.Is(errEnroll, store.ErrNotFound):
			wins["delete"]++
			if !errors.Is(getErr, store.ErrNotFound) || len(certs) != 0 {
				t.Errorf("%s: delete won but the device is %+v (%v) with %d certificates", id, d, getErr, len(certs))
			}
		case errEnroll == nil && errors.Is(errDel, store.ErrEnrolled):
			wins["enroll"]++
			if getErr != nil || d.Status != store.StatusActive || len(certs) != 1 {
				t.Errorf("%s: enrollment won but the device is %+v (%v) with %d certificates", id, d, getErr, len(certs))
			}
		default:
			t.Errorf("%s: delete %v, enroll %v: want exactly one to succeed", id, errDel, errEnroll)
		}
	}
	t.Logf("winners: %v", wins)
}

// testUpdateModelPolicy: the first update of a model starts from the
// zero policy, a failing fn writes nothing, and concurrent updates of
// one model all apply.
func testUpdateModelPolicy(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	if _, err := s.UpdateModelPolicy(ctx, "cam", func(p *store.Policy) error { p.MaxMessageBytes = 9; return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing fn: %v", err)
	}
	if ps, _ := s.ListModelPolicies(ctx); len(ps) != 0 {
		t.Errorf("a failed first update stored %v", ps)
	}
	mp, err := s.UpdateModelPolicy(ctx, "cam", func(p *store.Policy) error {
		if !cmp.Equal(*p, store.Policy{}) {
			return fmt.Errorf("first update starts from %+v", *p)
		}
		p.MessagesPerSecond = 4
		return nil
	})
	if err != nil || mp.Model != "cam" || mp.Policy.MessagesPerSecond != 4 {
		t.Fatalf("first update: %+v %v", mp, err)
	}
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.UpdateModelPolicy(ctx, "cam", func(p *store.Policy) error {
				p.Publish = append(p.Publish, fmt.Sprintf("t/%d", i))
				return nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ps, err := s.ListModelPolicies(ctx)
	if err != nil || len(ps) != 1 || len(ps[0].Policy.Publish) != n || ps[0].Policy.MessagesPerSecond != 4 {
		t.Fatalf("after %d concurrent updates: %+v %v", n, ps, err)
	}
}
