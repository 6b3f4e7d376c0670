package eval

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompute(t *testing.T) {
	tests := []struct {
		name   string
		scores []float64
		labels []int8
		auc    float64
		tpr01  float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.9, 0.8}, []int8{0, 0, 1, 1}, 1, 1},
		{"inverted", []float64{0.9, 0.8, 0.1, 0.2}, []int8{0, 0, 1, 1}, 0, 0},
		{"all tied", []float64{1, 1, 1, 1}, []int8{0, 1, 0, 1}, 0.5, 0},
		{"one swap", []float64{0.1, 0.6, 0.5, 0.9}, []int8{0, 0, 1, 1}, 0.75, 0.5},
		{"unlabelled ignored", []float64{0.1, 5, 0.9}, []int8{0, -1, 1}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, curve, err := Compute(tt.scores, tt.labels, 0)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(m.AUC-tt.auc) > 1e-12 || m.TPR01 != tt.tpr01 {
				t.Errorf("AUC %v TPR@1%% %v, want %v %v", m.AUC, m.TPR01, tt.auc, tt.tpr01)
			}
			if last := curve[len(curve)-1]; last.FPR != 1 || last.TPR != 1 {
				t.Errorf("curve ends at %+v", last)
			}
		})
	}
	if _, _, err := Compute([]float64{1, 2}, []int8{1, 1}, 0); err == nil {
		t.Error("one class accepted")
	}
	m, _, _ := Compute([]float64{0.1, 0.2, 0.9, 0.8}, []int8{0, 0, 1, 1}, 0.15)
	if m.FPRAtThreshold != 0.5 || m.TPRAtThreshold != 1 {
		t.Errorf("at threshold: FPR %v TPR %v", m.FPRAtThreshold, m.TPRAtThreshold)
	}
}

func TestReadLabels(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []int8
		wantErr bool
	}{
		{"header and index", "index,label\n0,0\n1,1\n2,0\n", []int8{0, 1, 0}, false},
		{"gaps", "0,1\n3,0\n", []int8{1, -1, -1, 0}, false},
		{"kitsune one column", "0\n0\n1\n", []int8{0, 0, 1}, false},
		{"bad label", "index,label\n0,2\n", nil, true},
		{"bad index", "index,label\nx,1\n", nil, true},
		{"empty", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadLabels(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" && !tt.wantErr {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlots(t *testing.T) {
	scores := []float64{0.1, 0.2, 0.15, 0.9, 0.8, 1.2}
	labels := []int8{0, 0, 0, 1, 1, 1}
	m, curve, err := Compute(scores, labels, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := PlotROC(filepath.Join(dir, "roc.png"), "test", curve, m); err != nil {
		t.Fatal(err)
	}
	if err := PlotScores(filepath.Join(dir, "scores.png"), "test", scores, labels, 100, 0.5); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"roc.png", "scores.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() < 1000 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

func FuzzReadLabels(f *testing.F) {
	f.Add("index,label\n0,0\n1,1\n")
	f.Add("0\n1\n")
	f.Fuzz(func(t *testing.T, in string) {
		labels, err := ReadLabels(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, l := range labels {
			if l < -1 || l > 1 {
				t.Fatalf("label %d", l)
			}
		}
	})
}
