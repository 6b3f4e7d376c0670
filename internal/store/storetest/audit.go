package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardproject/ward/internal/store"
)

// TestAuditLog is the conformance suite of store.AuditLog. RunAuditAttacks
// is its companion for attacks that need the backend's SQL.
func TestAuditLog(t *testing.T, open func(t *testing.T) store.Store) {
	runAll(t, open, []subtest{
		{"chain-and-pages", testAudit},
		{"append", testAuditAppend},
		{"list-limits", testAuditLimits},
		{"concurrent-appends", testConcurrentAudit},
	})
}

func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.AppendAudit(ctx, store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Second), Actor: "tok", Action: "device.revoke", Target: "d",
			Detail: map[string]string{"reason": "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	es, err := s.ListAudit(ctx, 10)
	if err != nil || len(es) != 3 {
		t.Fatalf("ListAudit = %d, %v", len(es), err)
	}
	oldestFirst := []store.AuditEntry{es[2], es[1], es[0]}
	if err := store.VerifyAudit(oldestFirst); err != nil {
		t.Errorf("fresh chain does not verify: %v", err)
	}
	oldestFirst[1].Target = "other"
	if err := store.VerifyAudit(oldestFirst); err == nil {
		t.Error("altered entry verified")
	}
	appendAudit(t, s, 22)
	page, err := s.ListAuditFrom(ctx, 10, 5)
	if err != nil || len(page) != 5 || page[0].Seq != 10 || page[4].Seq != 14 {
		t.Fatalf("ListAuditFrom(10, 5) = %d entries from %v, %v; want 10 to 14", len(page), page, err)
	}
	if rest, err := s.ListAuditFrom(ctx, 24, 0); err != nil || len(rest) != 2 || rest[1].Seq != 25 {
		t.Errorf("ListAuditFrom(24, 0) = %d entries, %v; want 24 and 25", len(rest), err)
	}
	if none, err := s.ListAuditFrom(ctx, 26, 10); err != nil || len(none) != 0 {
		t.Errorf("ListAuditFrom past the head = %d entries, %v", len(none), err)
	}
	rep, err := store.VerifyAuditChain(ctx, s, &store.AuditAnchor{Seq: 25, Hash: es[0].Hash}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Problem != store.AuditAnchorMismatch {
		t.Errorf("an anchor with another hash: %+v, want anchor-mismatch", rep)
	}
	head, _ := s.ListAudit(ctx, 1)
	for _, size := range []int{1, 7, 25, 1000} {
		rep, err := store.VerifyAuditChain(ctx, s, &store.AuditAnchor{Seq: 25, Hash: head[0].Hash}, size)
		if err != nil || !rep.OK || rep.Entries != 25 || rep.HeadSeq != 25 || rep.HeadHash != head[0].Hash {
			t.Errorf("page size %d: %+v, %v; want 25 entries verified", size, rep, err)
		}
	}
}

// appendAudit appends n entries.
func appendAudit(t *testing.T, s store.Store, n int) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	for i := range n {
		e, err := s.AppendAudit(context.Background(), store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Minute), Actor: "token:0011223344556677",
			Action: "device.revoke", Target: fmt.Sprintf("d-%d", i), Detail: map[string]string{"reason": "keyCompromise"}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// Exec runs one SQL statement on a backend's database directly, as an
// attacker with write access to it would.
type Exec func(ctx context.Context, stmt string) error

// RunAuditAttacks tampers with the audit log behind the store's back, as
// an attacker with write access to the database would, and checks that
// VerifyAuditChain, anchored at the head recorded before the attack,
// catches each attack. open returns a new empty store and a way to run
// SQL on it.
func RunAuditAttacks(t *testing.T, open func(t *testing.T) (store.Store, Exec)) {
	tests := []struct {
		name     string
		attack   []string
		reappend int // entries appended through the store after the attack
		problem  string
	}{
		{"untouched", nil, 0, ""},
		{"truncated-tail", []string{"DELETE FROM audit_log WHERE seq > 7"}, 0, store.AuditTruncated},
		{"truncated-tail-then-appended", []string{"DELETE FROM audit_log WHERE seq > 7"}, 1, store.AuditTruncated},
		{"truncated-tail-then-appended-past-the-anchor", []string{"DELETE FROM audit_log WHERE seq > 7"}, 5, store.AuditAnchorMismatch},
		{"everything-deleted", []string{"DELETE FROM audit_log"}, 0, store.AuditTruncated},
		{"middle-deleted", []string{"DELETE FROM audit_log WHERE seq = 4"}, 0, store.AuditGap},
		{"start-deleted", []string{"DELETE FROM audit_log WHERE seq <= 2"}, 0, store.AuditMissingStart},
		{"entry-altered", []string{"UPDATE audit_log SET target = 'd-99' WHERE seq = 5"}, 0, store.AuditAltered},
		{"head-altered", []string{"UPDATE audit_log SET actor = 'system' WHERE seq = 10"}, 0, store.AuditAltered},
		{"hash-replaced", []string{"UPDATE audit_log SET hash = 'ab' WHERE seq = 3"}, 0, store.AuditAltered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, exec := open(t)
			es := appendAudit(t, s, 10)
			anchor := &store.AuditAnchor{Seq: es[9].Seq, Hash: es[9].Hash}
			for _, stmt := range tt.attack {
				if err := exec(ctx, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			appendAudit(t, s, tt.reappend)
			rep, err := store.VerifyAuditChain(ctx, s, anchor, 3)
			if err != nil {
				t.Fatal(err)
			}
			if tt.problem == "" {
				if !rep.OK || rep.Entries != 10 {
					t.Errorf("untouched log: %+v", rep)
				}
				return
			}
			if rep.OK || rep.Problem != tt.problem || rep.Message == "" {
				t.Errorf("after %q: %+v, want problem %s", tt.attack, rep, tt.problem)
			}
		})
	}
}

// testAuditAppend: the store, not the caller, sets Seq, PrevHash and Hash;
// the returned entry is the stored one; an empty log lists nothing and
// verifies.
func testAuditAppend(t *testing.T, s store.Store) {
	ctx := context.Background()
	if es, err := s.ListAudit(ctx, 10); err != nil || len(es) != 0 {
		t.Fatalf("ListAudit on an empty log = %v, %v", es, err)
	}
	if es, err := s.ListAuditFrom(ctx, 1, 10); err != nil || len(es) != 0 {
		t.Fatalf("ListAuditFrom on an empty log = %v, %v", es, err)
	}
	if rep, err := store.VerifyAuditChain(ctx, s, nil, 10); err != nil || !rep.OK || rep.Entries != 0 || rep.HeadSeq != 0 {
		t.Fatalf("VerifyAuditChain of an empty log = %+v, %v", rep, err)
	}
	forged := store.AuditEntry{Seq: 99, PrevHash: "forged", Hash: "forged", Time: t0, Actor: "system", Action: "store.open", Target: ""}
	first, err := s.AppendAudit(ctx, forged)
	if err != nil {
		t.Fatal(err)
	}
	if first.Seq != 1 || first.PrevHash != "" || first.Hash != store.AuditHash(first) {
		t.Fatalf("first entry: seq %d prev %q hash %q; want seq 1, no previous hash, its own hash", first.Seq, first.PrevHash, first.Hash)
	}
	second, err := s.AppendAudit(ctx, store.AuditEntry{Seq: 1, Time: t0.Add(time.Nanosecond), Actor: "token:a1", Action: "device.quarantine", Target: "d",
		Detail: map[string]string{"mode": "restrict", "note": "line\nbreak \"quoted\" ünïcode"}})
	if err != nil {
		t.Fatal(err)
	}
	if second.Seq != 2 || second.PrevHash != first.Hash || second.Hash != store.AuditHash(second) {
		t.Fatalf("second entry: seq %d prev %q; want seq 2 chained to %q", second.Seq, second.PrevHash, first.Hash)
	}
	got, err := s.ListAuditFrom(ctx, 1, 10)
	if diff := cmp.Diff([]store.AuditEntry{first, second}, got, cmpopts.EquateEmpty()); err != nil || diff != "" {
		t.Errorf("stored entries differ from the returned ones (-returned +stored), %v:\n%s", err, diff)
	}
	if err := store.VerifyAudit(got); err != nil {
		t.Errorf("stored entries do not verify: %v", err)
	}
}

// testAuditLimits: ListAudit is newest first, at most limit, 100 when
// limit <= 0; ListAuditFrom is oldest first from its seq.
func testAuditLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	appendAudit(t, s, 101)
	for _, tt := range []struct {
		limit, n   int
		head, tail int64
	}{{3, 3, 101, 99}, {0, 100, 101, 2}, {-1, 100, 101, 2}, {500, 101, 101, 1}} {
		es, err := s.ListAudit(ctx, tt.limit)
		if err != nil || len(es) != tt.n || es[0].Seq != tt.head || es[len(es)-1].Seq != tt.tail {
			t.Errorf("ListAudit(%d) = %d entries, %v; want %d, seq %d down to %d", tt.limit, len(es), err, tt.n, tt.head, tt.tail)
		}
	}
	es, err := s.ListAuditFrom(ctx, 0, 3)
	if err != nil || len(es) != 3 || es[0].Seq != 1 || es[2].Seq != 3 {
		t.Errorf("ListAuditFrom(0, 3) = %d entries, %v; want 1 to 3", len(es), err)
	}
	if es, err := s.ListAuditFrom(ctx, 50, -1); err != nil || len(es) != 52 || es[0].Seq != 50 {
		t.Errorf("ListAuditFrom(50, -1) = %d entries, %v; want 52 from 50", len(es), err)
	}
}

// testConcurrentAudit: concurrent appends never fork or break the chain:
// every seq is used once and the whole log verifies.
func testConcurrentAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	const writers, each = 8, 5
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := s.AppendAudit(ctx, store.AuditEntry{Time: t0, Actor: fmt.Sprintf("writer-%d", w), Action: "device.touch", Target: fmt.Sprint(i)})
				if err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	rep, err := store.VerifyAuditChain(ctx, s, nil, 7)
	if err != nil || !rep.OK || rep.Entries != writers*each || rep.HeadSeq != writers*each {
		t.Errorf("after %d concurrent appends: %+v, %v", writers*each, rep, err)
	}
}
