package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

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
