package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AuditEntry is one record of the append-only, hash-chained audit log of
// operator and automatic actions. Hash = SHA-256(PrevHash || canonical
// fields); changing or removing a past entry breaks every later hash.
type AuditEntry struct {
	Seq      int64             `json:"seq"`
	Time     time.Time         `json:"time"`
	Actor    string            `json:"actor"` // token id, "auto:<rule>", "system"
	Action   string            `json:"action"`
	Target   string            `json:"target"`
	Detail   map[string]string `json:"detail,omitempty"`
	PrevHash string            `json:"prev_hash"`
	Hash     string            `json:"hash"`
}

// AuditLog is the contract for the append-only, hash-chained audit log.
type AuditLog interface {
	// AppendAudit appends to the hash-chained audit log: the store sets
	// Seq, PrevHash and Hash atomically and returns the stored entry.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// ListAudit returns the newest entries, newest first, at most limit
	// (<= 0: 100).
	ListAudit(ctx context.Context, limit int) ([]AuditEntry, error)
	// ListAuditFrom returns the audit entries with Seq >= from, oldest
	// first, at most limit (<= 0: 1000): one page of a walk over the whole
	// chain (VerifyAuditChain).
	ListAuditFrom(ctx context.Context, from int64, limit int) ([]AuditEntry, error)
}

// AuditHash computes an entry's chained hash: SHA-256 over the previous
// hash and the entry's fields in a fixed, unambiguous encoding.
func AuditHash(e AuditEntry) string {
	var b strings.Builder
	field := func(s string) { b.WriteString(strconv.Itoa(len(s))); b.WriteByte(':'); b.WriteString(s) }
	field(e.PrevHash)
	field(strconv.FormatInt(e.Seq, 10))
	field(e.Time.UTC().Format(time.RFC3339Nano))
	field(e.Actor)
	field(e.Action)
	field(e.Target)
	keys := make([]string, 0, len(e.Detail))
	for k := range e.Detail {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field(k)
		field(e.Detail[k])
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// VerifyAudit checks a run of entries, oldest first, for a broken chain.
func VerifyAudit(entries []AuditEntry) error {
	for i, e := range entries {
		if i > 0 && (e.PrevHash != entries[i-1].Hash || e.Seq != entries[i-1].Seq+1) {
			return fmt.Errorf("audit log broken between entries %d and %d", entries[i-1].Seq, e.Seq)
		}
		if AuditHash(e) != e.Hash {
			b, _ := json.Marshal(e)
			return fmt.Errorf("audit entry %d was altered: %s", e.Seq, b)
		}
	}
	return nil
}

// AuditReader reads the audit log in order, a page at a time.
type AuditReader interface {
	ListAuditFrom(ctx context.Context, from int64, limit int) ([]AuditEntry, error)
}

// AuditAnchor pins the chain from outside the store: entry Seq had Hash
// (a signed checkpoint). Seq 0 pins the empty log.
type AuditAnchor struct {
	Seq  int64
	Hash string
}

// Problems VerifyAuditChain reports.
const (
	AuditAltered        = "altered"         // an entry's fields do not match its hash
	AuditGap            = "gap"             // entries are missing between two others
	AuditMissingStart   = "missing-start"   // the log does not start at seq 1
	AuditTruncated      = "truncated"       // the log ends before the anchored entry
	AuditAnchorMismatch = "anchor-mismatch" // the anchored entry was rewritten (with every hash after it)
)

// AuditReport is the outcome of VerifyAuditChain.
type AuditReport struct {
	OK       bool   `json:"ok"`
	Entries  int64  `json:"entries"`   // entries read and checked
	HeadSeq  int64  `json:"head_seq"`  // the last entry's seq (0: empty log)
	HeadHash string `json:"head_hash"` // the last entry's hash
	// Problem is one of the Audit* constants when OK is false, and Message
	// says what was found where.
	Problem string `json:"problem,omitempty"`
	Message string `json:"message,omitempty"`
}

// VerifyAuditChain walks the whole audit log from seq 1 to its head, page
// by page, and checks each entry's hash, that it extends the previous
// entry (no seq missing, the previous hash carried), and, when anchor is
// given, that the anchored entry is still there with the anchored hash. A
// deleted tail (truncation), a deleted entry in the middle, a deleted
// start, an altered entry and a rewritten chain all fail it. The error is
// for the store; a broken chain is a report with OK false.
func VerifyAuditChain(ctx context.Context, r AuditReader, anchor *AuditAnchor, pageSize int) (AuditReport, error) {
	if pageSize <= 0 {
		pageSize = 1000
	}
	var rep AuditReport
	fail := func(problem, format string, args ...any) (AuditReport, error) {
		rep.Problem, rep.Message = problem, fmt.Sprintf(format, args...)
		return rep, nil
	}
	var prev *AuditEntry
	next := int64(1)
	for {
		page, err := r.ListAuditFrom(ctx, next, pageSize)
		if err != nil {
			return rep, fmt.Errorf("verify audit log: %w", err)
		}
		for i := range page {
			e := page[i]
			switch {
			case prev == nil && (e.Seq != 1 || e.PrevHash != ""):
				return fail(AuditMissingStart, "the audit log starts at entry %d: entries 1 to %d were deleted", e.Seq, e.Seq-1)
			case prev != nil && e.Seq != prev.Seq+1:
				return fail(AuditGap, "entries %d to %d of the audit log were deleted", prev.Seq+1, e.Seq-1)
			case prev != nil && e.PrevHash != prev.Hash:
				return fail(AuditAltered, "audit entry %d does not follow entry %d (the chain was rewritten from there)", e.Seq, prev.Seq)
			case AuditHash(e) != e.Hash:
				return fail(AuditAltered, "audit entry %d was altered (%s %s by %s at %s)", e.Seq, e.Action, e.Target, e.Actor, e.Time.UTC().Format(time.RFC3339))
			case anchor != nil && e.Seq == anchor.Seq && e.Hash != anchor.Hash:
				return fail(AuditAnchorMismatch, "audit entry %d is not the one the signed checkpoint recorded: the log was rewritten up to there", e.Seq)
			}
			rep.Entries++
			rep.HeadSeq, rep.HeadHash = e.Seq, e.Hash
			prev = &page[i]
		}
		if len(page) < pageSize {
			break
		}
		next = prev.Seq + 1
	}
	if anchor != nil && anchor.Seq > rep.HeadSeq {
		return fail(AuditTruncated, "the audit log ends at entry %d but a signed checkpoint records entry %d: entries %d to %d were deleted",
			rep.HeadSeq, anchor.Seq, rep.HeadSeq+1, anchor.Seq)
	}
	rep.OK = true
	return rep, nil
}
