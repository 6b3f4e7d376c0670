package afterimage

// entry is what a table stores: a statistic that knows when it was last
// updated and how to initialise itself.
type entry[V any] interface {
	*V
	init(t float64)
	lastSeen() float64
}

// table is a bounded map from a key to a statistic.
type table[K comparable, V any, P entry[V]] struct {
	m       map[K]P
	max     int
	evicted int64
	swept   int64
}

func newTable[K comparable, V any, P entry[V]](max int) *table[K, V, P] {
	return &table[K, V, P]{m: make(map[K]P), max: max}
}

func (t *table[K, V, P]) size() int              { return len(t.m) }
func (t *table[K, V, P]) counts() (int64, int64) { return t.evicted, t.swept }

// get returns k's statistic, creating it at time now if absent; isNew
// reports whether it was created.
func (t *table[K, V, P]) get(k K, now float64) (v P, isNew bool) {
	if v, ok := t.m[k]; ok {
		return v, false
	}
	t.makeRoom(now)
	v = P(new(V))
	v.init(now)
	t.m[k] = v
	return v, true
}

// getOrdered looks a symmetric pair up under k or its reverse rk, creating
// it under k. first reports whether the entry is stored under k.
func (t *table[K, V, P]) getOrdered(k, rk K, now float64) (v P, first bool) {
	if v, ok := t.m[k]; ok {
		return v, true
	}
	if v, ok := t.m[rk]; ok {
		return v, false
	}
	v, _ = t.get(k, now)
	return v, true
}

func (t *table[K, V, P]) makeRoom(now float64) {
	if len(t.m) < t.max {
		return
	}
	// Evict the stalest of a few arbitrary entries (map order is random).
	var (
		victim K
		oldest = now + 1
		n      int
	)
	for k, v := range t.m {
		if ls := v.lastSeen(); ls < oldest {
			victim, oldest = k, ls
		}
		if n++; n == 8 {
			break
		}
	}
	delete(t.m, victim)
	t.evicted++
}

func (t *table[K, V, P]) sweep(cut float64) {
	for k, v := range t.m {
		if v.lastSeen() < cut {
			delete(t.m, k)
			t.swept++
		}
	}
}
