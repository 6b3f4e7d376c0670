package audit

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/wardproject/ward/internal/store"
)

const day = 24 * time.Hour

// Options are the audit's thresholds. Zero values mean the documented
// defaults.
type Options struct {
	// CertExpiringWithin: device and server certificates expiring within
	// this are reported (default 30 days).
	CertExpiringWithin time.Duration
	// CAExpiringWithin: CA certificates expiring within this are reported
	// (default 90 days: a CA rollover takes longer than a renewal).
	CAExpiringWithin time.Duration
	// DeviceCertMaxAge: a device's current certificate issued longer ago
	// is reported (default 365 days, as Device Defender).
	DeviceCertMaxAge time.Duration
	// DeviceCertMaxValidity: device certificates valid for longer are
	// reported (default ServerFacts.DeviceCertMaxAge plus one day of
	// slack for back-dated NotBefore, or 398 days when that is unset).
	DeviceCertMaxValidity time.Duration
	// NotSeenFor: active devices not seen for longer are reported
	// (default 30 days).
	NotSeenFor time.Duration
	// PendingFor: devices pending for longer are reported (default 14
	// days).
	PendingFor time.Duration
	// FirmwareLag: firmware released this much before the model's latest
	// is outdated (default 180 days).
	FirmwareLag time.Duration
	// SupportEndingWithin: models whose support ends within this are
	// reported (default 180 days).
	SupportEndingWithin time.Duration
	// FeedMaxAge: vulnerability feeds imported longer ago are stale
	// (default 7 days).
	FeedMaxAge time.Duration
	// MaxSourceIPs: a device seen from more distinct source addresses in
	// the window is reported (default 5).
	MaxSourceIPs int
	// MaxClientIDs: a device using more distinct client IDs in the window
	// is reported (default 3).
	MaxClientIDs int
	// MaxTokenTTL: a configured enrollment token lifetime above this is
	// reported (default 7 days).
	MaxTokenTTL time.Duration
	// MinRSABits and MinECBits are the smallest acceptable key sizes
	// (defaults 2048 and 256).
	MinRSABits int
	MinECBits  int
	// Disabled lists check ids not to run.
	Disabled []string
}

func (o Options) withDefaults(s *Snapshot) Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.CertExpiringWithin, 30*day)
	def(&o.CAExpiringWithin, 90*day)
	def(&o.DeviceCertMaxAge, 365*day)
	if o.DeviceCertMaxValidity <= 0 && s.Server.DeviceCertMaxAge > 0 {
		o.DeviceCertMaxValidity = s.Server.DeviceCertMaxAge + day
	}
	def(&o.DeviceCertMaxValidity, 398*day)
	def(&o.NotSeenFor, 30*day)
	def(&o.PendingFor, 14*day)
	def(&o.FirmwareLag, 180*day)
	def(&o.SupportEndingWithin, 180*day)
	def(&o.FeedMaxAge, 7*day)
	def(&o.MaxTokenTTL, 7*day)
	if o.MaxSourceIPs <= 0 {
		o.MaxSourceIPs = 5
	}
	if o.MaxClientIDs <= 0 {
		o.MaxClientIDs = 3
	}
	if o.MinRSABits <= 0 {
		o.MinRSABits = 2048
	}
	if o.MinECBits <= 0 {
		o.MinECBits = 256
	}
	return o
}

// Run evaluates every check on s and returns the findings, ordered by
// severity (critical first), check id, first resource and evidence.
// s.Now is the time the audit judges against; Run does no I/O and does
// not modify s.
func Run(s *Snapshot, opts Options) []Finding {
	a := newAuditor(s, opts.withDefaults(s))
	a.checkCA()
	a.checkServer()
	a.checkCertificates()
	a.checkDevices()
	a.checkModels()
	a.checkUpdates()
	a.checkTokens()
	a.checkFeeds()
	out := a.out
	if len(opts.Disabled) > 0 {
		out = slices.DeleteFunc(out, func(f Finding) bool { return slices.Contains(opts.Disabled, f.Check) })
	}
	slices.SortFunc(out, compareFindings)
	return out
}

func compareFindings(a, b Finding) int {
	if c := cmp.Compare(b.Severity.Rank(), a.Severity.Rank()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Check, b.Check); c != 0 {
		return c
	}
	if c := cmp.Compare(firstResource(a), firstResource(b)); c != 0 {
		return c
	}
	return cmp.Compare(a.Evidence, b.Evidence)
}

func firstResource(f Finding) string {
	if len(f.Resources) == 0 {
		return ""
	}
	return f.Resources[0]
}

// Rank orders severities: info 1 … critical 5; unknown values 0.
func (s Severity) Rank() int {
	switch s {
	case Info:
		return 1
	case Low:
		return 2
	case Medium:
		return 3
	case High:
		return 4
	case Critical:
		return 5
	}
	return 0
}

// auditor holds one run's indexes and output.
type auditor struct {
	s   *Snapshot
	o   Options
	now time.Time
	out []Finding

	devIdx map[string]int32 // device ID -> index in s.Devices
	// cur is, per device, the index in s.Certificates of its newest
	// unrevoked device certificate, or -1.
	cur    []int32
	models map[string]*modelState
	// serials maps every certificate serial to its index; built on
	// first use by serialOwner.
	serials map[string]int32
	fw      map[fwKey]*fwGroup   // live devices by model × firmware
	kev     map[string]*kevGroup // KEV CVE -> exposure
}

// modelState is a model's metadata and what the device pass collected
// for it.
type modelState struct {
	m       *Model // nil: devices name a model with no metadata
	name    string
	devices []int32 // every device of the model
}

func newAuditor(s *Snapshot, o Options) *auditor {
	a := &auditor{s: s, o: o, now: s.Now}
	a.devIdx = make(map[string]int32, len(s.Devices))
	for i := range s.Devices {
		a.devIdx[s.Devices[i].ID] = int32(i)
	}
	a.cur = make([]int32, len(s.Devices))
	for i := range a.cur {
		a.cur[i] = -1
	}
	for i := range s.Certificates {
		c := &s.Certificates[i]
		if c.Kind != "device" || c.Revoked() || c.DeviceID == "" {
			continue
		}
		d, ok := a.devIdx[c.DeviceID]
		if !ok {
			continue
		}
		if j := a.cur[d]; j < 0 || c.NotAfter.After(s.Certificates[j].NotAfter) {
			a.cur[d] = int32(i)
		}
	}
	a.models = make(map[string]*modelState, len(s.Models))
	for i := range s.Models {
		m := &s.Models[i]
		a.models[m.Name] = &modelState{m: m, name: m.Name}
	}
	return a
}

// add appends a finding of check id with the catalogue's title,
// severity, remediation and standards.
func (a *auditor) add(id string, sev Severity, evidence string, resources ...string) {
	c := checkByID[id]
	if sev == "" {
		sev = c.Severity
	}
	a.out = append(a.out, Finding{
		Check:       id,
		Title:       c.Title,
		Severity:    sev,
		Resources:   resources,
		Evidence:    evidence,
		Remediation: c.Remediation,
		Standards:   c.Standards,
	})
}

func deviceRes(id string) string { return "device:" + id }

// devicesRes returns the resource list head followed by the devices.
func (a *auditor) devicesRes(head []string, devs []int32) []string {
	out := make([]string, 0, len(head)+len(devs))
	out = append(out, head...)
	for _, d := range devs {
		out = append(out, deviceRes(a.s.Devices[d].ID))
	}
	return out
}

// live reports whether a device is in use (holds or held a certificate).
func live(d *store.Device) bool {
	return d.Status == store.StatusActive || d.Status == store.StatusQuarantined
}

func itoa(n int) string { return strconv.Itoa(n) }

// days formats a duration in whole days.
func days(d time.Duration) string {
	n := int(d / day)
	if n == 1 || n == -1 {
		return itoa(n) + " day"
	}
	return itoa(n) + " days"
}

func date(t time.Time) string { return t.UTC().Format("2006-01-02") }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}
