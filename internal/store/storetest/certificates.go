package storetest

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/store"
)

// TestCertificates is the conformance suite of store.Certificates.
func TestCertificates(t *testing.T, open func(t *testing.T) store.Store) {
	runAll(t, open, []subtest{
		{"put-get-revoke", testCertificates},
		{"list", testListCertificates},
		{"list-of-devices", testListDeviceCertificates},
		{"soonest-expiry-by-model", testSoonestExpiryByModel},
		{"revoked-list", testListRevoked},
		{"revoke-superseded", testRevokeSuperseded},
		{"valid-device-certificates", testValidDeviceCertificates},
		{"counters", testCounters},
		{"concurrent-counter", testConcurrentCounter},
	})
}

func testCertificates(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := store.Certificate{Serial: "4a01", DeviceID: "d", Subject: "CN=d", Kind: "device", NotBefore: t0, NotAfter: t0.Add(time.Hour),
		Fingerprint: "ff", DER: []byte{1, 2, 3}, IssuedAt: t0}
	if err := s.PutCertificate(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCertificate(ctx, store.Certificate{Serial: "4a01", DeviceID: "evil", Kind: "device", DER: []byte{9}}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate serial: %v", err)
	}
	if _, err := s.GetCertificate(ctx, "4a99"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown serial: %v, want ErrNotFound", err)
	}
	got, err := s.GetCertificate(ctx, "4a01")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("GetCertificate (-want +got):\n%s", diff)
	}
	if err := s.RevokeCertificate(ctx, "4a01", "keyCompromise", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeCertificate(ctx, "4a01", "other", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeCertificate(ctx, "dead", "x", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	rev, err := s.ListRevoked(ctx)
	if err != nil || len(rev) != 1 || rev[0].RevokeReason != "keyCompromise" || !rev[0].RevokedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("ListRevoked = %+v, %v (first revocation must be kept)", rev, err)
	}
	s.PutCertificate(ctx, store.Certificate{Serial: "4a02", Kind: "server", Subject: "CN=s", DER: []byte{1}, IssuedAt: t0.Add(time.Second)})
	dev, _ := s.ListCertificates(ctx, "d")
	all, _ := s.ListCertificates(ctx, "")
	if len(dev) != 1 || len(all) != 2 || all[0].Serial != "4a02" {
		t.Errorf("ListCertificates: device %d, all %d (%v)", len(dev), len(all), all)
	}
}

// testValidDeviceCertificates: only device certificates that are neither
// revoked nor expired are streamed, with serial, device and expiry only.
func testValidDeviceCertificates(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, c := range []store.Certificate{
		{Serial: "4b01", DeviceID: "d1", Kind: "device", NotAfter: t0.Add(time.Hour)},                       // valid
		{Serial: "4b02", DeviceID: "d1", Kind: "device", NotAfter: t0.Add(-time.Second)},                    // expired
		{Serial: "4b06", DeviceID: "d1", Kind: "device", NotAfter: t0},                                      // expires at now
		{Serial: "4b03", DeviceID: "d2", Kind: "device", NotAfter: t0.Add(time.Hour)},                       // revoked below
		{Serial: "4b04", Kind: "server", NotAfter: t0.Add(time.Hour)},                                       // not a device's
		{Serial: "4b05", DeviceID: "d2", Kind: "device", NotAfter: t0.Add(2 * time.Hour), Subject: "CN=d2"}, // valid
	} {
		c.DER, c.IssuedAt, c.NotBefore = []byte{1}, t0, t0.Add(-time.Hour)
		if err := s.PutCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeCertificate(ctx, "4b03", "keyCompromise", t0); err != nil {
		t.Fatal(err)
	}
	var got []store.Certificate
	if err := s.EachValidDeviceCertificate(ctx, t0, func(c store.Certificate) error { got = append(got, c); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Serial < got[j].Serial })
	want := []store.Certificate{
		{Serial: "4b01", DeviceID: "d1", NotAfter: t0.Add(time.Hour)},
		{Serial: "4b05", DeviceID: "d2", NotAfter: t0.Add(2 * time.Hour)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EachValidDeviceCertificate (-want +got):\n%s", diff)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.EachValidDeviceCertificate(ctx, t0, func(store.Certificate) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("an error from fn: %v after %d calls, want it returned after 1", err, n)
	}
}

func testCounters(t *testing.T, s store.Store) {
	ctx := context.Background()
	for want := int64(1); want <= 3; want++ {
		if got, err := s.NextCounter(ctx, "crl"); err != nil || got != want {
			t.Fatalf("NextCounter = %d, %v; want %d", got, err, want)
		}
	}
	if got, err := s.NextCounter(ctx, "other"); err != nil || got != 1 {
		t.Errorf("NextCounter of a second name = %d, %v; want 1 (counters are independent)", got, err)
	}
}

// testListCertificates: newest issued first, one device's or all; a device
// without certificates lists nothing; every field round-trips.
func testListCertificates(t *testing.T, s store.Store) {
	ctx := context.Background()
	if cs, err := s.ListCertificates(ctx, ""); err != nil || len(cs) != 0 {
		t.Fatalf("ListCertificates on an empty store = %v, %v", cs, err)
	}
	full := store.Certificate{Serial: "0a03", DeviceID: "d1", Subject: "CN=d1,O=Ward", Kind: "device", NotBefore: t0, NotAfter: t0.Add(90 * 24 * time.Hour),
		Fingerprint: "ab12", DER: []byte{0x30, 0x82, 0x00, 0xff}, IssuedAt: t0.Add(3 * time.Hour),
		RevokedAt: t0.Add(4 * time.Hour), RevokeReason: "keyCompromise", SupersededAt: t0.Add(3*time.Hour + time.Nanosecond)}
	for _, c := range []store.Certificate{
		{Serial: "0a01", DeviceID: "d1", Kind: "device", DER: []byte{1}, IssuedAt: t0.Add(time.Hour)},
		{Serial: "0a02", DeviceID: "d2", Kind: "device", DER: []byte{1}, IssuedAt: t0.Add(2 * time.Hour)},
		full,
		{Serial: "0a04", Kind: "server", DER: []byte{1}, IssuedAt: t0},
	} {
		if err := s.PutCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	serials := func(deviceID string) []string {
		t.Helper()
		cs, err := s.ListCertificates(ctx, deviceID)
		if err != nil {
			t.Fatal(err)
		}
		return keysOf(cs, func(c store.Certificate) string { return c.Serial })
	}
	if got, want := serials(""), []string{"0a03", "0a02", "0a01", "0a04"}; !cmp.Equal(got, want) {
		t.Errorf("ListCertificates(all) = %v, want %v (newest issued first)", got, want)
	}
	if got, want := serials("d1"), []string{"0a03", "0a01"}; !cmp.Equal(got, want) {
		t.Errorf("ListCertificates(d1) = %v, want %v", got, want)
	}
	if got := serials("ghost"); len(got) != 0 {
		t.Errorf("ListCertificates of an unknown device = %v", got)
	}
	cs, _ := s.ListCertificates(ctx, "d1")
	if diff := cmp.Diff(full, cs[0]); diff != "" {
		t.Errorf("listed certificate (-want +got):\n%s", diff)
	}
	if !cs[0].Revoked() || cs[1].Revoked() {
		t.Errorf("Revoked() = %v, %v; want true, false", cs[0].Revoked(), cs[1].Revoked())
	}
}

// testListRevoked: only revoked certificates, in the order they were
// revoked (then by serial), each with its first revocation's time and
// reason.
func testListRevoked(t *testing.T, s store.Store) {
	ctx := context.Background()
	if rs, err := s.ListRevoked(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("ListRevoked on an empty store = %v, %v", rs, err)
	}
	for _, serial := range []string{"01", "02", "03", "05", "04"} {
		if err := s.PutCertificate(ctx, store.Certificate{Serial: serial, DeviceID: "d", Kind: "device", DER: []byte{1}, IssuedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []struct {
		serial, reason string
		at             time.Duration
	}{{"03", "keyCompromise", time.Minute}, {"01", "cessationOfOperation", 2 * time.Minute}, {"03", "superseded", 3 * time.Minute},
		{"05", "keyCompromise", 4 * time.Minute}, {"04", "keyCompromise", 4 * time.Minute}} {
		if err := s.RevokeCertificate(ctx, r.serial, r.reason, t0.Add(r.at)); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := s.ListRevoked(ctx)
	if got, want := keysOf(rs, func(c store.Certificate) string { return c.Serial }), []string{"03", "01", "04", "05"}; err != nil || !cmp.Equal(got, want) {
		t.Fatalf("ListRevoked = %v, %v; want %v (by revocation time, then serial)", got, err, want)
	}
	if rs[0].Serial != "03" || rs[0].RevokeReason != "keyCompromise" || !rs[0].RevokedAt.Equal(t0.Add(time.Minute)) ||
		rs[1].Serial != "01" || rs[1].RevokeReason != "cessationOfOperation" || !rs[1].RevokedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("ListRevoked = %+v; want 03 (keyCompromise, first revocation) then 01", rs)
	}
}

// testRevokeSuperseded: the superseded certificates at or before the
// cut-off, and only unrevoked ones, are revoked with reason superseded at
// now; a second call finds nothing.
func testRevokeSuperseded(t *testing.T, s store.Store) {
	ctx := context.Background()
	if got, err := s.RevokeSuperseded(ctx, t0, t0); err != nil || len(got) != 0 {
		t.Fatalf("RevokeSuperseded on an empty store = %v, %v", got, err)
	}
	for _, c := range []store.Certificate{
		{Serial: "s1", SupersededAt: t0.Add(-time.Hour)},      // due
		{Serial: "s2", SupersededAt: t0},                      // due: at the cut-off
		{Serial: "s3", SupersededAt: t0.Add(time.Nanosecond)}, // still in grace
		{Serial: "s4"}, // current
		{Serial: "s5", SupersededAt: t0.Add(-time.Hour), RevokedAt: t0.Add(-time.Minute), RevokeReason: "keyCompromise"}, // revoked already
	} {
		c.DeviceID, c.Kind, c.DER, c.IssuedAt = "d", "device", []byte{1}, t0.Add(-2*time.Hour)
		if err := s.PutCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(time.Minute)
	got, err := s.RevokeSuperseded(ctx, t0, now)
	sort.Strings(got)
	if err != nil || !cmp.Equal(got, []string{"s1", "s2"}) {
		t.Fatalf("RevokeSuperseded = %v, %v; want [s1 s2]", got, err)
	}
	for serial, want := range map[string]struct {
		reason string
		at     time.Time
	}{"s1": {"superseded", now}, "s2": {"superseded", now}, "s3": {}, "s4": {}, "s5": {"keyCompromise", t0.Add(-time.Minute)}} {
		c, err := s.GetCertificate(ctx, serial)
		if err != nil || c.RevokeReason != want.reason || !c.RevokedAt.Equal(want.at) {
			t.Errorf("%s after RevokeSuperseded: reason %q at %v, %v; want %q at %v", serial, c.RevokeReason, c.RevokedAt, err, want.reason, want.at)
		}
	}
	if again, err := s.RevokeSuperseded(ctx, t0, now); err != nil || len(again) != 0 {
		t.Errorf("second RevokeSuperseded = %v, %v; want nothing", again, err)
	}
}

// testConcurrentCounter: concurrent increments of one counter each get
// their own number (two CRLs never share a CRL number).
func testConcurrentCounter(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 16
	got := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); got[i], errs[i] = s.NextCounter(ctx, "crl_number") }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	for i, v := range got {
		if v != int64(i+1) {
			t.Fatalf("concurrent NextCounter gave %v, want 1 to %d once each", got, n)
		}
	}
}
