package password

import "testing"

// FuzzParse: Parse never panics, and what it accepts is canonical (it
// formats back to the input) and within bounds.
func FuzzParse(f *testing.F) {
	f.Add("$argon2id$v=19$m=65536,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Add("$argon2id$v=19$m=64,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
	f.Add("$argon2id$v=19$m=0,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := Parse(s)
		if err != nil {
			return
		}
		if got := format(p, salt, key); got != s {
			t.Errorf("Parse(%q) then format = %q", s, got)
		}
		if p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Threads > maxThreads {
			t.Errorf("Parse(%q) accepted parameters %+v", s, p)
		}
	})
}
