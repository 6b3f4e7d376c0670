package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/store"
)

// TestLifecycle is the conformance suite of the device lifecycle, the
// transactions of store.Devices that change a device's status
// (TransitionDevice, EnrollDevice, PutEnrollToken's precondition): every
// operation from every status, the revocation epoch, the re-enrollment
// limits, and every pair of operations run concurrently.
func TestLifecycle(t *testing.T, open func(t *testing.T) store.Store) {
	runAll(t, open, []subtest{
		{"enroll-device", testEnrollDevice},
		{"lifecycle-matrix", testLifecycleMatrix},
		{"token-after-revocation", testTokenAfterRevocation},
		{"reenroll-limits", testReenrollLimits},
		{"concurrent-transitions", testConcurrentTransitions},
	})
}

// The lifecycle tests hold the backends to the state machine written
// down independently here (not derived from the store package's tables),
// then attack it with every pair of concurrent transitions.

var serialSeq atomic.Int64

func nextSerial() string { return fmt.Sprintf("5e%014x", serialSeq.Add(1)) }

func testCert(device, serial string, issued time.Time) store.Certificate {
	return store.Certificate{Serial: serial, DeviceID: device, Subject: "CN=" + device, Kind: "device",
		NotBefore: issued, NotAfter: issued.Add(90 * 24 * time.Hour), DER: []byte{1}, IssuedAt: issued}
}

var tokenHash = []byte("0123456789abcdef0123456789abcdef")

// lc drives one store through the lifecycle operations as package fleet
// does, with the limits fleet uses by default.
type lc struct {
	s   store.Store
	now time.Time
}

const maxValid = 3

func (l lc) enroll(ctx context.Context, id string) (store.Outcome, error) {
	return l.s.EnrollDevice(ctx, store.Enrollment{DeviceID: id, TokenHash: tokenHash, Now: l.now, MaxValid: maxValid,
		Cert: testCert(id, nextSerial(), l.now), Event: store.Event{DeviceID: id, Time: l.now, Kind: "enrolled"}})
}

func (l lc) reenroll(ctx context.Context, id, current string) (store.Outcome, error) {
	return l.s.EnrollDevice(ctx, store.Enrollment{DeviceID: id, Current: current, Now: l.now, MaxValid: maxValid, ReenrollInterval: time.Hour,
		Cert: testCert(id, nextSerial(), l.now), Event: store.Event{DeviceID: id, Time: l.now, Kind: "reenrolled"}})
}

func (l lc) token(ctx context.Context, id string) error {
	return l.s.PutEnrollToken(ctx, store.EnrollToken{DeviceID: id, Hash: tokenHash, CreatedAt: l.now, ExpiresAt: l.now.Add(24 * time.Hour)})
}

func (l lc) transition(ctx context.Context, id, op string) (store.Outcome, error) {
	t := store.Transition{DeviceID: id, Op: op, Now: l.now, Event: store.Event{DeviceID: id, Time: l.now, Kind: op}}
	switch op {
	case "quarantine":
		t.From, t.To, t.Quarantine = store.QuarantineFrom, store.StatusQuarantined, store.QuarantineRefuse
	case "release":
		t.From, t.To, t.NeedsCertificate = store.ReleaseFrom, store.StatusActive, true
	case "revoke":
		t.From, t.To, t.RevokeReason = store.RevokeFrom, store.StatusRevoked, "keyCompromise"
	case "retire":
		t.From, t.To, t.RevokeReason = store.RetireFrom, store.StatusRetired, "cessationOfOperation"
	default:
		panic("unknown op " + op)
	}
	return l.s.TransitionDevice(ctx, t)
}

// setup creates device id in status with, for an enrolled one, the
// certificate it enrolled with (returned) and, where a token is allowed,
// an outstanding enrollment token.
func (l lc) setup(t *testing.T, id string, status store.DeviceStatus) (current string) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("setup %s %s: %v", id, status, err)
		}
	}
	must(l.s.CreateDevice(ctx, store.Device{ID: id, Model: "m", Status: store.StatusPending, CreatedAt: l.now, UpdatedAt: l.now}))
	must(l.token(ctx, id))
	if status == store.StatusPending {
		return ""
	}
	out, err := l.enroll(ctx, id)
	must(err)
	certs, err := l.s.ListCertificates(ctx, id)
	must(err)
	current = certs[0].Serial
	if out.Device.Status != store.StatusActive {
		t.Fatalf("setup: enrolled device is %s", out.Device.Status)
	}
	switch status {
	case store.StatusActive:
		must(l.token(ctx, id))
	case store.StatusQuarantined:
		must(l.token(ctx, id))
		_, err = l.transition(ctx, id, "quarantine")
	case store.StatusRevoked:
		_, err = l.transition(ctx, id, "revoke")
		must(err)
		err = lc{s: l.s, now: l.now.Add(time.Second)}.token(ctx, id)
	case store.StatusRetired:
		_, err = l.transition(ctx, id, "retire")
	}
	must(err)
	return current
}

func (l lc) do(ctx context.Context, id, op, current string) error {
	var err error
	switch op {
	case "enroll":
		_, err = l.enroll(ctx, id)
	case "reenroll":
		_, err = l.reenroll(ctx, id, current)
	case "token":
		err = l.token(ctx, id)
	default:
		_, err = l.transition(ctx, id, op)
	}
	return err
}

var allStatuses = []store.DeviceStatus{store.StatusPending, store.StatusActive, store.StatusQuarantined, store.StatusRevoked, store.StatusRetired}

// machine is the state machine as the threat model states it: for each
// operation, the statuses it is allowed from and the status it leads to
// ("" keeps the status).
var machine = map[string]struct {
	from []store.DeviceStatus
	to   store.DeviceStatus
}{
	"enroll":     {[]store.DeviceStatus{store.StatusPending, store.StatusActive, store.StatusRevoked}, store.StatusActive},
	"reenroll":   {[]store.DeviceStatus{store.StatusActive}, store.StatusActive},
	"quarantine": {[]store.DeviceStatus{store.StatusPending, store.StatusActive, store.StatusQuarantined}, store.StatusQuarantined},
	"release":    {[]store.DeviceStatus{store.StatusQuarantined}, store.StatusActive},
	"revoke":     {[]store.DeviceStatus{store.StatusPending, store.StatusActive, store.StatusQuarantined, store.StatusRevoked}, store.StatusRevoked},
	"retire":     {[]store.DeviceStatus{store.StatusPending, store.StatusActive, store.StatusQuarantined, store.StatusRevoked}, store.StatusRetired},
	"token":      {[]store.DeviceStatus{store.StatusPending, store.StatusActive, store.StatusRevoked}, ""},
}

var ops = []string{"enroll", "reenroll", "quarantine", "release", "revoke", "retire", "token"}

func validCerts(t *testing.T, s store.Store, id string, now time.Time) []store.Certificate {
	t.Helper()
	certs, err := s.ListCertificates(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(certs, func(c store.Certificate) bool { return c.Revoked() || !now.Before(c.NotAfter) })
}

// testLifecycleMatrix applies every operation from every status.
func testLifecycleMatrix(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := lc{s: s, now: t0}
	for _, from := range allStatuses {
		for _, op := range ops {
			t.Run(op+"-from-"+string(from), func(t *testing.T) {
				id := "m-" + op + "-" + string(from)
				current := l.setup(t, id, from)
				before, _ := s.GetDevice(ctx, id)
				evsBefore, _ := s.ListEvents(ctx, id, 100)
				certsBefore, _ := s.ListCertificates(ctx, id)
				act := lc{s: s, now: t0.Add(2 * time.Hour)}
				err := act.do(ctx, id, op, current)
				after, _ := s.GetDevice(ctx, id)
				spec := machine[op]
				if !slices.Contains(spec.from, from) {
					var se *store.StateError
					if !errors.As(err, &se) || se.Status != from || !errors.Is(err, store.ErrWrongState) {
						t.Fatalf("%s from %s: got %v, want a *StateError naming %s", op, from, err, from)
					}
					if after.Status != before.Status || !after.UpdatedAt.Equal(before.UpdatedAt) {
						t.Errorf("refused %s changed the device: %s -> %s", op, before.Status, after.Status)
					}
					if evs, _ := s.ListEvents(ctx, id, 100); len(evs) != len(evsBefore) {
						t.Errorf("refused %s wrote an event", op)
					}
					if certs, _ := s.ListCertificates(ctx, id); len(certs) != len(certsBefore) {
						t.Errorf("refused %s recorded a certificate", op)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s from %s: %v", op, from, err)
				}
				want := spec.to
				if want == "" {
					want = from
				}
				if after.Status != want {
					t.Errorf("%s from %s: status %s, want %s", op, from, after.Status, want)
				}
				if op == "revoke" || op == "retire" {
					if v := validCerts(t, s, id, act.now); len(v) != 0 {
						t.Errorf("%s left %d valid certificates", op, len(v))
					}
					if _, err := s.GetEnrollToken(ctx, id); !errors.Is(err, store.ErrNotFound) {
						t.Errorf("%s left the enrollment token: %v", op, err)
					}
					if !after.RevokedAt.Equal(act.now) {
						t.Errorf("%s: RevokedAt %v, want %v", op, after.RevokedAt, act.now)
					}
				}
			})
		}
	}
	// Release without a valid certificate leads to pending.
	id := "m-release-no-cert"
	l.setup(t, id, store.StatusPending)
	if _, err := l.transition(ctx, id, "quarantine"); err != nil {
		t.Fatal(err)
	}
	if out, err := l.transition(ctx, id, "release"); err != nil || out.Device.Status != store.StatusPending {
		t.Errorf("release of a quarantined device without a certificate: %+v %v, want pending", out.Device.Status, err)
	}
	if _, err := s.TransitionDevice(ctx, store.Transition{DeviceID: "ghost", Op: "revoke", From: store.RevokeFrom, To: store.StatusRevoked, Now: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("transition of an unknown device: %v", err)
	}
	if err := s.PutEnrollToken(ctx, store.EnrollToken{DeviceID: "ghost", Hash: tokenHash, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token for an unknown device: %v", err)
	}
}

// testTokenAfterRevocation: a token issued before a revocation never
// enrolls the device again, even one written after the revocation with
// an earlier creation time (a token issue racing the revocation).
func testTokenAfterRevocation(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := lc{s: s, now: t0}
	l.setup(t, "r", store.StatusActive) // holds an outstanding token
	later := lc{s: s, now: t0.Add(time.Hour)}
	if _, err := later.transition(ctx, "r", "revoke"); err != nil {
		t.Fatal(err)
	}
	if _, err := later.enroll(ctx, "r"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("enroll with the token issued before the revocation: %v, want ErrNotFound", err)
	}
	if err := l.token(ctx, "r"); err != nil { // created at t0, written after the revocation
		t.Fatal(err)
	}
	if _, err := later.enroll(ctx, "r"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("enroll with a token created before the revocation: %v, want ErrNotFound", err)
	}
	if d, _ := s.GetDevice(ctx, "r"); d.Status != store.StatusRevoked {
		t.Fatalf("device is %s after refused enrollments", d.Status)
	}
	if err := later.token(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if out, err := later.enroll(ctx, "r"); err != nil || out.Device.Status != store.StatusActive {
		t.Fatalf("enroll with a token issued after the revocation: %+v %v", out.Device.Status, err)
	}
}

// testReenrollLimits: the current certificate is superseded, the interval
// holds, a superseded or revoked certificate cannot re-enroll, the valid
// certificates are capped, and superseded ones are revoked after grace.
func testReenrollLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	at := func(d time.Duration) lc { return lc{s: s, now: t0.Add(d)} }
	c1 := at(0).setup(t, "e", store.StatusActive)
	if _, err := at(time.Minute).reenroll(ctx, "e", c1); err != nil {
		t.Fatal(err)
	}
	cert1, _ := s.GetCertificate(ctx, c1)
	if !cert1.SupersededAt.Equal(t0.Add(time.Minute)) || cert1.Revoked() {
		t.Fatalf("current certificate after re-enrollment: superseded %v revoked %v", cert1.SupersededAt, cert1.RevokedAt)
	}
	certs, _ := s.ListCertificates(ctx, "e")
	c2 := certs[0].Serial
	if _, err := at(30*time.Minute).reenroll(ctx, "e", c2); !errors.Is(err, store.ErrTooSoon) {
		t.Fatalf("second re-enrollment within the interval: %v, want ErrTooSoon", err)
	}
	if _, err := at(2*time.Hour).reenroll(ctx, "e", c1); !errors.Is(err, store.ErrStaleCertificate) {
		t.Fatalf("re-enrollment with the superseded certificate: %v, want ErrStaleCertificate", err)
	}
	if _, err := at(2*time.Hour).reenroll(ctx, "e", c2); err != nil {
		t.Fatal(err)
	}
	if v := validCerts(t, s, "e", t0.Add(2*time.Hour)); len(v) != 3 {
		t.Fatalf("%d valid certificates, want 3 (new, and two superseded in grace)", len(v))
	}
	certs, _ = s.ListCertificates(ctx, "e")
	c3 := certs[0].Serial
	out, err := at(4*time.Hour).reenroll(ctx, "e", c3)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Revoked) != 1 || out.Revoked[0] != c1 {
		t.Fatalf("cap of %d valid certificates revoked %v, want the oldest [%s]", maxValid, out.Revoked, c1)
	}
	if v := validCerts(t, s, "e", t0.Add(4*time.Hour)); len(v) != maxValid {
		t.Fatalf("%d valid certificates, want %d", len(v), maxValid)
	}
	// Superseded at 2h (c2) is past a 90-minute grace at 4h; c3 (4h) is not.
	revoked, err := s.RevokeSuperseded(ctx, t0.Add(4*time.Hour-90*time.Minute), t0.Add(4*time.Hour))
	if err != nil || len(revoked) != 1 || revoked[0] != c2 {
		t.Fatalf("RevokeSuperseded = %v %v, want [%s]", revoked, err, c2)
	}
	if c, _ := s.GetCertificate(ctx, c2); c.RevokeReason != "superseded" {
		t.Errorf("superseded certificate revoked with reason %q", c.RevokeReason)
	}
	if _, err := at(6*time.Hour).reenroll(ctx, "e", c2); !errors.Is(err, store.ErrStaleCertificate) {
		t.Errorf("re-enrollment with a revoked certificate: %v, want ErrStaleCertificate", err)
	}
	if _, err := at(6*time.Hour).reenroll(ctx, "e", "ffff"); !errors.Is(err, store.ErrStaleCertificate) {
		t.Errorf("re-enrollment with an unknown serial: %v, want ErrStaleCertificate", err)
	}
}

// testConcurrentTransitions runs every pair of operations at once on one
// device, many times, from active and from quarantined, and checks the
// invariants that containment rests on. A backend that reads the status
// in one statement and writes it in another without a lock fails here.
func testConcurrentTransitions(t *testing.T, s store.Store) {
	const rounds = 4
	ctx := context.Background()
	n := 0
	for _, start := range []store.DeviceStatus{store.StatusActive, store.StatusQuarantined} {
		for i, a := range ops {
			for _, b := range ops[i:] {
				for r := range rounds {
					n++
					id := fmt.Sprintf("c%d-%s-%s-%s", r, start, a, b)
					l := lc{s: s, now: t0}
					current := l.setup(t, id, start)
					act := lc{s: s, now: t0.Add(2 * time.Hour)}
					var errA, errB error
					var wg sync.WaitGroup
					go1 := make(chan struct{})
					wg.Add(2)
					go func() { defer wg.Done(); <-go1; errA = act.do(ctx, id, a, current) }()
					go func() { defer wg.Done(); <-go1; errB = act.do(ctx, id, b, current) }()
					close(go1)
					wg.Wait()
					checkPair(t, s, id, start, a, b, errA, errB, act.now)
				}
			}
		}
	}
	t.Logf("%d concurrent pairs", n)
}

func checkPair(t *testing.T, s store.Store, id string, start store.DeviceStatus, a, b string, errA, errB error, now time.Time) {
	t.Helper()
	ctx := context.Background()
	for _, e := range []error{errA, errB} {
		var se *store.StateError
		if e != nil && !errors.As(e, &se) && !errors.Is(e, store.ErrNotFound) && !errors.Is(e, store.ErrTooSoon) && !errors.Is(e, store.ErrStaleCertificate) {
			t.Errorf("%s: %s || %s from %s: unexpected error %v", id, a, b, start, e)
		}
	}
	d, err := s.GetDevice(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	valid := validCerts(t, s, id, now)
	ok := func(op string) bool {
		return (a == op && errA == nil) || (b == op && errB == nil)
	}
	has := func(op string) bool { return a == op || b == op }
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s: %s (%v) || %s (%v) from %s: final %s: %s", id, a, errA, b, errB, start, d.Status, fmt.Sprintf(format, args...))
	}
	if (d.Status == store.StatusRevoked || d.Status == store.StatusRetired) && len(valid) > 0 {
		fail("%d valid certificates left", len(valid))
	}
	if ok("retire") && d.Status != store.StatusRetired {
		fail("retire succeeded but the device is not retired")
	}
	if ok("revoke") && d.Status != store.StatusRevoked && d.Status != store.StatusRetired {
		fail("revoke succeeded but the device came back")
	}
	if ok("quarantine") && !has("release") && !has("revoke") && !has("retire") && d.Status != store.StatusQuarantined {
		fail("quarantine succeeded but the device left quarantine")
	}
	if d.Status == store.StatusActive && len(valid) == 0 {
		fail("active without a valid certificate")
	}
	if len(valid) > maxValid {
		fail("%d valid certificates, over the cap of %d", len(valid), maxValid)
	}
	if a == "reenroll" && b == "reenroll" && errA == nil && errB == nil {
		fail("one certificate re-enrolled twice")
	}
	if a == "enroll" && b == "enroll" && errA == nil && errB == nil {
		fail("one token enrolled twice")
	}
}

func testEnrollDevice(t *testing.T, s store.Store) {
	ctx := context.Background()
	s.CreateDevice(ctx, store.Device{ID: "d", Model: "m", Status: store.StatusPending, CreatedAt: t0, UpdatedAt: t0})
	h := []byte("0123456789abcdef0123456789abcdef")
	s.PutEnrollToken(ctx, store.EnrollToken{DeviceID: "d", Hash: h, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	ev := store.Event{DeviceID: "d", Time: t0, Kind: "enrolled"}
	// A wrong token writes nothing.
	if _, err := s.EnrollDevice(ctx, store.Enrollment{DeviceID: "d", TokenHash: []byte("wrong"), Now: t0, Cert: testCert("d", "aa01", t0), Event: ev}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := s.GetCertificate(ctx, "aa01"); !errors.Is(err, store.ErrNotFound) {
		t.Error("certificate recorded although the token was refused")
	}
	out, err := s.EnrollDevice(ctx, store.Enrollment{DeviceID: "d", TokenHash: h, Now: t0.Add(time.Minute), Cert: testCert("d", "aa02", t0), Event: ev})
	if err != nil || out.Device.Status != store.StatusActive {
		t.Fatalf("enroll: %+v %v", out, err)
	}
	if tok, _ := s.GetEnrollToken(ctx, "d"); tok.UsedAt.IsZero() {
		t.Error("token not used")
	}
	if evs, _ := s.ListEvents(ctx, "d", 10); len(evs) != 1 || evs[0].Kind != "enrolled" {
		t.Errorf("events %+v", evs)
	}
	// A re-enrollment whose new serial is a duplicate rolls everything back.
	if _, err := s.EnrollDevice(ctx, store.Enrollment{DeviceID: "d", Current: "aa02", Now: t0.Add(2 * time.Minute), Cert: testCert("d", "aa02", t0), Event: ev}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate serial: %v", err)
	}
	if c, _ := s.GetCertificate(ctx, "aa02"); !c.SupersededAt.IsZero() {
		t.Errorf("certificate superseded by a failed re-enrollment")
	}
	if got, _ := s.GetDevice(ctx, "d"); !got.ReenrolledAt.IsZero() {
		t.Errorf("re-enrollment time set by a failed re-enrollment")
	}
	if evs, _ := s.ListEvents(ctx, "d", 10); len(evs) != 1 {
		t.Errorf("event written by a failed enrollment: %d events", len(evs))
	}
	if _, err := s.EnrollDevice(ctx, store.Enrollment{DeviceID: "ghost", Current: "aa02", Now: t0, Cert: testCert("ghost", "aa03", t0), Event: ev}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown device: %v", err)
	}
	if _, err := s.GetCertificate(ctx, "aa03"); !errors.Is(err, store.ErrNotFound) {
		t.Error("certificate of an unknown device recorded")
	}
}
