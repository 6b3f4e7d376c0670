package audit

import (
	"crypto/x509"
	"testing"
)

func TestParseCertKey(t *testing.T) {
	certs := loadCerts(t)
	o := Options{}.withDefaults(&Snapshot{})
	tests := []struct {
		cert, alg, curve, sig string
		bits                  int
		weak                  bool
	}{
		{"root", "ECDSA", "P-256", "ECDSA-SHA256", 256, false},
		{"issuer", "RSA", "", "ECDSA-SHA256", 2048, false},
		{"issuer-sha1", "RSA", "", "SHA1-RSA", 2048, true},
		{"rsa1024", "RSA", "", "ECDSA-SHA256", 1024, true},
		{"p224", "ECDSA", "P-224", "ECDSA-SHA256", 224, true},
	}
	for _, tt := range tests {
		t.Run(tt.cert, func(t *testing.T) {
			ki, err := parseCertKey(certs[tt.cert])
			if err != nil {
				t.Fatal(err)
			}
			if ki.Alg != tt.alg || ki.Curve != tt.curve || ki.SigAlg != tt.sig || ki.Bits != tt.bits {
				t.Errorf("got %+v", ki)
			}
			if weak := ki.weakness(&o, true) != ""; weak != tt.weak {
				t.Errorf("weak = %v, want %v (%s)", weak, tt.weak, ki.weakness(&o, true))
			}
			// Agrees with crypto/x509 on the key.
			x := x509KeyInfo(mustParse(t, certs[tt.cert]))
			if x.Alg != ki.Alg || x.Bits != ki.Bits {
				t.Errorf("x509 says %s %d, parser %s %d", x.Alg, x.Bits, ki.Alg, ki.Bits)
			}
		})
	}
}

func TestParseService(t *testing.T) {
	for in, want := range map[string]string{"tcp/23": "tcp/23", " TCP/0023 ": "tcp/23", "23/tcp": "tcp/23", "udp/1900": "udp/1900", "tcp/0": "", "tcp/70000": "", "sctp/1": "", "bogus": "", "tcp/": ""} {
		got, ok := parseService(in)
		if got != want || ok != (want != "") {
			t.Errorf("parseService(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// FuzzParseCertKey: the DER parser never panics, and whatever it accepts
// crypto/x509 also reads the same key algorithm from (when x509 accepts
// the certificate at all).
func FuzzParseCertKey(f *testing.F) {
	for _, der := range loadCerts(f) {
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		ki, err := parseCertKey(der)
		if err != nil {
			return
		}
		if c, err := parseX509(der); err == nil {
			x := x509KeyInfo(c)
			if x.Alg != ki.Alg && (x.Alg == "RSA" || x.Alg == "ECDSA") {
				t.Errorf("x509 says %s, parser %s", x.Alg, ki.Alg)
			}
		}
	})
}

func FuzzParseService(f *testing.F) {
	for _, s := range []string{"tcp/23", "23/udp", "x/y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if k, ok := parseService(s); ok {
			if k2, ok2 := parseService(k); !ok2 || k2 != k {
				t.Errorf("parseService(%q) = %q does not round-trip (%q)", s, k, k2)
			}
		}
	})
}

func parseX509(der []byte) (*x509.Certificate, error) { return x509.ParseCertificate(der) }
