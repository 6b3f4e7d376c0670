package audit

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/wardtest"
)

func TestScoreGolden(t *testing.T) {
	s := fixtureFleet(t)
	findings := Run(s, Options{})
	for _, std := range []string{StandardETSI, StandardNIST, StandardCRA} {
		t.Run(std, func(t *testing.T) {
			sc, err := Score(findings, std, len(s.Devices))
			if err != nil {
				t.Fatal(err)
			}
			if sc.Assessed+sc.NotAssessed != len(sc.Provisions) || sc.Passed+sc.Failed != sc.Assessed {
				t.Errorf("counts do not add up: %+v", sc)
			}
			b, _ := json.MarshalIndent(sc, "", "  ")
			wardtest.Golden(t, "testdata/score-"+std+".golden", append(b, '\n'))
		})
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		name        string
		findings    []Finding
		provision   string
		wantStatus  ProvisionStatus
		wantDevFail int
		wantPct     float64 // -1: nil
	}{
		{"no findings pass", nil, "ETSI EN 303 645 5.3-13", Pass, 0, 100},
		{"unassessed", nil, "ETSI EN 303 645 5.11-1", NotAssessed, 0, -1},
		{"device finding fails", []Finding{{Check: CheckModelNoSupportPeriod, Severity: Medium, Resources: []string{"model:m", "device:a", "device:b"},
			Standards: []string{"ETSI EN 303 645 5.3-13"}}}, "ETSI EN 303 645 5.3-13", Fail, 2, 80},
		{"fleet finding fails every device", []Finding{{Check: CheckPlaintextMQTT, Severity: High, Resources: []string{"server"},
			Standards: []string{"ETSI EN 303 645 5.5-1"}}}, "ETSI EN 303 645 5.5-1", Fail, 10, 0},
		{"suppressed does not fail", []Finding{{Check: CheckPlaintextMQTT, Severity: High, Resources: []string{"server"}, Suppressed: true,
			Standards: []string{"ETSI EN 303 645 5.5-1"}}}, "ETSI EN 303 645 5.5-1", Pass, 0, 100},
		{"resolved does not fail", []Finding{{Check: CheckPlaintextMQTT, Severity: High, Resources: []string{"server"}, ResolvedAt: time.Unix(1, 0),
			Standards: []string{"ETSI EN 303 645 5.5-1"}}}, "ETSI EN 303 645 5.5-1", Pass, 0, 100},
		{"info does not fail", []Finding{{Check: CheckEnrollTokenExpired, Severity: Info, Resources: []string{"device:a"},
			Standards: []string{"ETSI EN 303 645 5.5-8"}}}, "ETSI EN 303 645 5.5-8", Pass, 0, 100},
		{"process check has no device share", []Finding{{Check: CheckVulnFeedStale, Severity: Medium, Resources: []string{"feed:kev"},
			Standards: []string{"ETSI EN 303 645 5.2-3"}}}, "ETSI EN 303 645 5.2-3", Fail, 0, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := Score(tt.findings, StandardETSI, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range sc.Provisions {
				if p.Provision != tt.provision {
					continue
				}
				if p.Status != tt.wantStatus || p.DevicesFailing != tt.wantDevFail {
					t.Errorf("got status %s, %d devices failing; want %s, %d", p.Status, p.DevicesFailing, tt.wantStatus, tt.wantDevFail)
				}
				switch {
				case tt.wantPct < 0 && p.DevicesPassingPct != nil:
					t.Errorf("pct = %v, want nil", *p.DevicesPassingPct)
				case tt.wantPct >= 0 && (p.DevicesPassingPct == nil || *p.DevicesPassingPct != tt.wantPct):
					t.Errorf("pct = %v, want %v", p.DevicesPassingPct, tt.wantPct)
				}
				return
			}
			t.Fatalf("provision %s not in the scorecard", tt.provision)
		})
	}
}

func TestScoreUnknownStandard(t *testing.T) {
	if _, err := Score(nil, "iso-27001", 1); !errors.Is(err, ErrUnknownStandard) {
		t.Errorf("err = %v, want ErrUnknownStandard", err)
	}
}
