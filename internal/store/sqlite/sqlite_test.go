package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "ward.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// TestAuditAttacks: truncation, deletion and alteration of the audit log
// behind the store's back are caught by VerifyAuditChain.
func TestAuditAttacks(t *testing.T) {
	storetest.RunAuditAttacks(t, func(t *testing.T) (store.Store, storetest.Exec) {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "ward.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db, func(ctx context.Context, stmt string) error { _, err := db.w.ExecContext(ctx, stmt); return err }
	})
}

func TestOpenFileModeAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ward.db")
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDevice(ctx, store.Device{ID: "d", Model: "m", Status: store.StatusPending}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("store file mode %#o, want 0600", st.Mode().Perm())
	}
	db, err = Open(ctx, path) // migrations must not re-run
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.GetDevice(ctx, "d"); err != nil {
		t.Errorf("device lost across reopen: %v", err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ward.db")
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO schema_migrations(version, applied_at) VALUES(999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(ctx, path); err == nil {
		t.Fatal("opening a store with a newer schema succeeded")
	}
}
