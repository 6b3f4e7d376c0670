package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// testParams keep the unit tests fast; the API's tests use DefaultParams.
var testParams = Params{Memory: 64, Time: 1, Threads: 1}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h, err := NewHasher(testParams, 0)
	if err != nil {
		t.Fatal(err)
	}
	phc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q does not carry its parameters", phc)
	}
	other, _ := h.Hash(ctx, "correct horse battery staple")
	if other == phc {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"right", "correct horse battery staple", true},
		{"wrong", "correct horse battery stapl", false},
		{"empty", "", false},
		{"case", "Correct horse battery staple", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := h.Verify(ctx, tt.pw, phc)
			if err != nil || ok != tt.want {
				t.Errorf("Verify = %v, %v; want %v", ok, err, tt.want)
			}
		})
	}
	if err := h.VerifyNone(ctx, "anything"); err != nil {
		t.Errorf("VerifyNone: %v", err)
	}
}

// TestParamsTravelWithTheHash: a hash made with other parameters still
// verifies, and NeedsRehash says to replace it.
func TestParamsTravelWithTheHash(t *testing.T) {
	ctx := context.Background()
	old, _ := NewHasher(Params{Memory: 32, Time: 2, Threads: 2}, 1)
	cur, _ := NewHasher(testParams, 1)
	phc, err := old.Hash(ctx, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := cur.Verify(ctx, "a long enough password", phc); !ok || err != nil {
		t.Errorf("Verify of an older hash = %v, %v", ok, err)
	}
	if !cur.NeedsRehash(phc) || old.NeedsRehash(phc) {
		t.Error("NeedsRehash does not compare the parameters")
	}
}

func TestDefaultParams(t *testing.T) {
	if DefaultParams.Memory != 64*1024 || DefaultParams.Time < 1 || DefaultParams.Time > 3 || DefaultParams.Threads < 1 || DefaultParams.Threads > 4 {
		t.Errorf("DefaultParams %+v outside m=64MiB t=1..3 p=1..4", DefaultParams)
	}
	if _, err := NewHasher(Params{Memory: 1 << 30, Time: 1, Threads: 1}, 1); err == nil {
		t.Error("NewHasher accepted 1 TiB")
	}
}

func TestParseRefuses(t *testing.T) {
	good := "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
	if _, _, _, err := Parse(good); err != nil {
		t.Fatalf("Parse(%q): %v", good, err)
	}
	for _, s := range []string{
		"", "$", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=9999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=99$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=064,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$t=1,m=64,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2Fs$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA$",
	} {
		if _, _, _, err := Parse(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", s, err)
		}
		h, _ := NewHasher(testParams, 1)
		if ok, err := h.Verify(context.Background(), "x", s); ok || err == nil {
			t.Errorf("Verify against %q = %v, %v", s, ok, err)
		}
	}
}

func TestCheckPolicy(t *testing.T) {
	tests := []struct {
		name, user, pw, want string
	}{
		{"ok", "alice", "twelve chars", ""},
		{"short", "alice", "eleven char", "at least 12"},
		{"short-multibyte", "alice", "ééééééééééé", "at least 12"},
		{"multibyte-ok", "alice", "éééééééééééé", ""},
		{"long", "alice", strings.Repeat("x", 1025), "at most 1024 bytes"},
		{"max", "alice", strings.Repeat("x", 1024), ""},
		{"user-name", "alice.smith1", "Alice.Smith1", "user name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPolicy(tt.user, tt.pw)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("CheckPolicy = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestConcurrencyBound: no more than the configured number of hashes run
// at once, however many callers there are.
func TestConcurrencyBound(t *testing.T) {
	h, _ := NewHasher(testParams, 2)
	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := h.acquire(context.Background()); err != nil {
				t.Error(err)
				return
			}
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			running.Add(-1)
			h.release()
		})
	}
	wg.Wait()
	if p := peak.Load(); p > 2 || p < 1 {
		t.Errorf("peak concurrent hashes %d, want 1..2", p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.slots <- struct{}{}
	h.slots <- struct{}{}
	if _, err := h.Hash(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with every slot taken and a cancelled context: %v", err)
	}
}
