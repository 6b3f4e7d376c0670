package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	. "github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/store"
)

func TestParseDeviceCSV(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []CSVDevice
		wantErr []string // substrings, in order
	}{
		{"four-columns", "id,model,firmware,tags\nd1,cam,1.0,a;b|c\n\n# comment\nd2, cam ,,\n",
			[]CSVDevice{{Line: 2, NewDevice: NewDevice{ID: "d1", Model: "cam", Firmware: "1.0", Tags: []string{"a", "b", "c"}}},
				{Line: 5, NewDevice: NewDevice{ID: "d2", Model: "cam"}}}, nil},
		{"token-ttl", "\ufeffID,Model,Firmware,Tags,Token_TTL\nd1,cam,1.0,,72h\nd2,cam,1.0,x,\n",
			[]CSVDevice{{Line: 2, NewDevice: NewDevice{ID: "d1", Model: "cam", Firmware: "1.0", TokenTTL: 72 * time.Hour}},
				{Line: 3, NewDevice: NewDevice{ID: "d2", Model: "cam", Firmware: "1.0", Tags: []string{"x"}}}}, nil},
		{"every-bad-line", "id,model,firmware,tags,token_ttl\nd1,cam,1,,\nbad id,cam,1,,\nd3,,1,,\nd1,cam,1,,\nd5,cam,1,,soon\nd6,cam\nd7,cam,1,,3000h\n", nil,
			[]string{"line 3:", "line 4: model is required", "line 5: device d1 is already on line 2", "line 6: token_ttl \"soon\"", "line 7: 2 fields", "line 8: enrollment token lifetime"}},
		{"bad-header", "device,model,firmware,tags\nd1,cam,1,\n", nil, []string{"line 1: the header must be"}},
		{"empty", "", nil, []string{"empty file"}},
		{"header-only", "id,model,firmware,tags\n", nil, []string{"no device"}},
		{"bare-quote", "id,model,firmware,tags\nd1,ca\"m,1,\n", nil, []string{"line 2:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDeviceCSV(strings.NewReader(tt.in))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, got %+v", got)
				}
				msg := err.Error()
				for _, w := range tt.wantErr {
					i := strings.Index(msg, w)
					if i < 0 {
						t.Fatalf("error %q lacks %q", msg, w)
					}
					msg = msg[i+len(w):]
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseDeviceCSV(f *testing.F) {
	for _, s := range []string{"id,model,firmware,tags\nd1,cam,1.0,a;b\n", "id,model,firmware,tags,token_ttl\nd1,m,,x|y,1h\n",
		"id,model,firmware,tags\n\"d1\",\"c\"\"am\",1,\n", "id,model\n", "\ufeffid,model,firmware,tags\r\nd1,m,1,\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ds, err := ParseDeviceCSV(strings.NewReader(string(in)))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, d := range ds {
			if err := CheckNewDevice(d.NewDevice); err != nil {
				t.Fatalf("line %d parsed but invalid: %v", d.Line, err)
			}
			if seen[d.ID] {
				t.Fatalf("device %s parsed twice", d.ID)
			}
			seen[d.ID] = true
			if d.Line < 2 {
				t.Fatalf("device %s on line %d", d.ID, d.Line)
			}
		}
	})
}

// TestImport: a batch registers every device with a working token; a
// batch with one bad or existing device registers none.
func TestImport(t *testing.T) {
	r, db, _, gw := newRegistry(t)
	ctx := context.Background()
	var nds []NewDevice
	for i := range 1000 {
		nds = append(nds, NewDevice{ID: fmt.Sprintf("f-%04d", i), Model: "cam", Firmware: "1.0", Tags: []string{"line-1"}})
	}
	out, err := r.Import(ctx, nds)
	if err != nil || len(out) != 1000 {
		t.Fatalf("import: %d, %v", len(out), err)
	}
	if err := r.Authenticate(ctx, out[999].Device.ID, out[999].Enrollment.Token.Reveal()); err != nil {
		t.Errorf("an imported token does not authenticate: %v", err)
	}
	if gw.devices["f-0500"] != store.StatusPending {
		t.Errorf("gateway not told about imported devices")
	}

	bad := []NewDevice{{ID: "g-1", Model: "cam"}, {ID: "g 2", Model: "cam"}, {ID: "g-3"}, {ID: "g-1", Model: "cam"}}
	_, err = r.Import(ctx, bad)
	var ie *ImportError
	if !errors.As(err, &ie) || len(ie.Problems) != 3 || !errors.Is(err, ErrBadRequest) {
		t.Fatalf("bad batch: %v", err)
	}
	_, err = r.Import(ctx, []NewDevice{{ID: "h-1", Model: "cam"}, {ID: "f-0007", Model: "cam"}})
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "f-0007") {
		t.Fatalf("batch with an existing device: %v", err)
	}
	for _, id := range []string{"g-1", "h-1"} {
		if _, err := db.GetDevice(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("refused batch registered %s: %v", id, err)
		}
	}
	if _, err := r.Import(ctx, make([]NewDevice, MaxImport+1)); !errors.Is(err, ErrBadRequest) {
		t.Errorf("oversized batch: %v", err)
	}
}

// TestDelete: a never-enrolled device is deleted with its token; an
// enrolled one is refused with the hint to retire it.
func TestDelete(t *testing.T) {
	r, db, _, _ := newRegistry(t)
	ctx := context.Background()
	_, en, err := r.Add(ctx, NewDevice{ID: "typo", Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "typo"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Enroll(ctx, "typo", en.Token.Reveal(), csr(t, "typo")); err == nil {
		t.Fatal("the deleted device's token still enrolls")
	}
	if _, err := db.GetDevice(ctx, "typo"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted device: %v", err)
	}
	_, en, _ = r.Add(ctx, NewDevice{ID: "real", Model: "m"})
	if _, err := r.Enroll(ctx, "real", en.Token.Reveal(), csr(t, "real")); err != nil {
		t.Fatal(err)
	}
	err = r.Delete(ctx, "real")
	if !errors.Is(err, ErrEnrolled) || !strings.Contains(err.Error(), "device real has enrolled; retire it instead") {
		t.Fatalf("delete an enrolled device: %v", err)
	}
	if err := r.Delete(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete an unknown device: %v", err)
	}
}
