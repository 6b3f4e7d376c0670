package audit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/wardproject/ward/internal/store"
)

// fwKey identifies a model × firmware version.
type fwKey struct{ model, firmware string }

// fwGroup is what the device pass learned about one model × firmware.
type fwGroup struct {
	devices              []int32
	sbom                 bool
	unmatched, undecided int
}

// checkDevices makes one pass over the devices: lifecycle, current
// certificate, connections, exposed services, per-device ACL grants and
// vulnerabilities; it groups devices by model and firmware for
// checkModels.
func (a *auditor) checkDevices() {
	s := a.s
	clientIDs := make(map[string]int32, len(s.Devices))
	conflicts := map[string][]int32{}
	a.fw = map[fwKey]*fwGroup{}
	a.kev = map[string]*kevGroup{}
	for i := range s.Devices {
		d := int32(i)
		dev := &s.Devices[i]
		switch {
		case dev.Status == store.StatusPending:
			if age := a.now.Sub(dev.CreatedAt); age > a.o.PendingFor {
				a.add(CheckDeviceNeverEnrolled, "", fmt.Sprintf("registered on %s (%s ago) and still pending enrollment (threshold %s)",
					date(dev.CreatedAt), days(age), days(a.o.PendingFor)), deviceRes(dev.ID))
			}
		case dev.Status == store.StatusActive:
			if dev.LastSeen.IsZero() {
				if age := a.now.Sub(dev.CreatedAt); age > a.o.NotSeenFor {
					a.add(CheckDeviceNotSeen, "", fmt.Sprintf("active since registration on %s but never seen by the gateway", date(dev.CreatedAt)), deviceRes(dev.ID))
				}
			} else if age := a.now.Sub(dev.LastSeen); age > a.o.NotSeenFor {
				a.add(CheckDeviceNotSeen, "", fmt.Sprintf("last seen %s (%s ago; threshold %s)",
					date(dev.LastSeen), days(age), days(a.o.NotSeenFor)), deviceRes(dev.ID))
			}
		}
		a.checkDeviceCert(d)
		if dc, ok := s.Connections[dev.ID]; ok {
			a.checkConnections(d, &dc)
			for _, id := range dc.ClientIDs {
				if first, ok := clientIDs[id]; !ok {
					clientIDs[id] = d
				} else if first != d {
					l := conflicts[id]
					if len(l) == 0 {
						l = append(l, first)
					}
					if l[len(l)-1] != d {
						conflicts[id] = append(l, d)
					}
				}
			}
			if len(dc.ClientIDs) > a.o.MaxClientIDs || dc.Refused["client-id"] > 0 {
				var parts []string
				if len(dc.ClientIDs) > a.o.MaxClientIDs {
					parts = append(parts, fmt.Sprintf("%d distinct client IDs in the last %s (threshold %d): %s",
						len(dc.ClientIDs), window(s.Window), a.o.MaxClientIDs, strings.Join(capList(dc.ClientIDs, 10), ", ")))
				}
				if n := dc.Refused["client-id"]; n > 0 {
					parts = append(parts, fmt.Sprintf("the gateway refused %s for a client ID not allowed for the device", plural(n, "connection", "connections")))
				}
				a.add(CheckClientIDConflict, "", strings.Join(parts, "; "), deviceRes(dev.ID))
			}
		}
		a.checkServices(dev.ID)
		if bad := permissive(dev.Policy, dev.ID); len(bad) > 0 {
			a.add(CheckACLOverlyPermissive, "", "device policy grants "+strings.Join(bad, "; "), deviceRes(dev.ID))
		}
		if !live(dev) {
			continue
		}
		ms := a.models[dev.Model]
		if ms == nil {
			ms = &modelState{name: dev.Model}
			a.models[dev.Model] = ms
		}
		ms.devices = append(ms.devices, d)
		g := a.fw[fwKey{dev.Model, dev.Firmware}]
		if g == nil {
			g = &fwGroup{}
			a.fw[fwKey{dev.Model, dev.Firmware}] = g
		}
		g.devices = append(g.devices, d)
		if dv, ok := s.Vulnerabilities[dev.ID]; ok {
			if dv.SBOM {
				g.sbom = true
				g.unmatched = max(g.unmatched, dv.Unmatched)
				g.undecided = max(g.undecided, dv.Undecided)
			}
			a.checkVulns(d, &dv)
		}
	}
	ids := make([]string, 0, len(conflicts))
	for id := range conflicts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		devs := conflicts[id]
		names := make([]string, len(devs))
		for i, d := range devs {
			names[i] = s.Devices[d].ID
		}
		slices.Sort(names)
		res := []string{"client-id:" + id}
		for _, n := range names {
			res = append(res, deviceRes(n))
		}
		a.add(CheckClientIDConflict, "", fmt.Sprintf("client ID %q was used by %s in the last %s: %s",
			id, plural(len(names), "device", "devices"), window(s.Window), strings.Join(capList(names, 10), ", ")), res...)
	}
}

// service is a port that is insecure to expose.
type service struct {
	name     string
	severity Severity
	// defaultCred: an open port of this service indicates default or
	// universal credentials (see CheckDefaultCredential).
	defaultCred bool
}

// insecureServices maps "tcp/23" to the service.
var insecureServices = map[string]service{
	"tcp/21":   {"FTP (cleartext credentials)", High, false},
	"tcp/23":   {"Telnet", Critical, true},
	"tcp/2323": {"Telnet (alternate port)", Critical, true},
	"udp/69":   {"TFTP (no authentication)", Medium, false},
	"udp/161":  {"SNMP v1/v2c (community strings)", Medium, false},
	"tcp/512":  {"rexec", High, false},
	"tcp/513":  {"rlogin", High, false},
	"tcp/514":  {"rsh", High, false},
	"udp/1900": {"UPnP/SSDP", Medium, false},
	"tcp/1883": {"plaintext MQTT broker", Medium, false},
	"tcp/5555": {"Android Debug Bridge", Critical, true},
	"tcp/7547": {"TR-069/CWMP", High, false},
}

// parseService reads "tcp/23" (also "TCP/23", "23/tcp") into its
// canonical form.
func parseService(s string) (string, bool) {
	proto, port, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "/")
	if !ok {
		return "", false
	}
	if _, err := strconv.Atoi(proto); err == nil {
		proto, port = port, proto
	}
	if proto != "tcp" && proto != "udp" {
		return "", false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 {
		return "", false
	}
	return proto + "/" + strconv.Itoa(n), true
}

// checkServices reports insecure services a device exposes, from its own
// report and from the network sensor.
func (a *auditor) checkServices(id string) {
	rep, hasRep := a.s.DeviceReports[id]
	ns := a.s.NetworkServices[id]
	if !hasRep && len(ns) == 0 {
		return
	}
	found := map[string][]string{} // "tcp/23" -> sources
	note := func(key, src string) {
		if _, bad := insecureServices[key]; bad && !slices.Contains(found[key], src) {
			found[key] = append(found[key], src)
		}
	}
	if hasRep {
		for _, p := range rep.ListeningTCP {
			note("tcp/"+itoa(p), "device report")
		}
		for _, p := range rep.ListeningUDP {
			note("udp/"+itoa(p), "device report")
		}
	}
	for _, s := range ns {
		if k, ok := parseService(s); ok {
			note(k, "network sensor")
		}
	}
	if len(found) == 0 {
		return
	}
	keys := make([]string, 0, len(found))
	for k := range found {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, comparePorts)
	var parts, creds []string
	sev := Info
	for _, k := range keys {
		svc := insecureServices[k]
		parts = append(parts, fmt.Sprintf("%s %s (%s)", k, svc.name, strings.Join(found[k], ", ")))
		if svc.severity.Rank() > sev.Rank() {
			sev = svc.severity
		}
		if svc.defaultCred {
			creds = append(creds, k+" "+svc.name)
		}
	}
	a.add(CheckInsecureService, sev, "listening: "+strings.Join(parts, "; "), deviceRes(id))
	if len(creds) > 0 {
		a.add(CheckDefaultCredential, "", "open "+strings.Join(creds, ", ")+": the usual route for default or universal credentials", deviceRes(id))
	}
}

func comparePorts(a, b string) int {
	pa, na, _ := strings.Cut(a, "/")
	pb, nb, _ := strings.Cut(b, "/")
	ia, _ := strconv.Atoi(na)
	ib, _ := strconv.Atoi(nb)
	if ia != ib {
		return ia - ib
	}
	return strings.Compare(pa, pb)
}

// permissive lists the grants of p that reach beyond the device's own
// tree, each with why. id is the device ID, or "" for a model policy
// (grants written with "{id}").
func permissive(p store.Policy, id string) []string {
	var out []string
	for _, g := range []struct {
		verb    string
		filters []string
	}{{"publish", p.Publish}, {"subscribe", p.Subscribe}} {
		for _, f := range g.filters {
			if why := grantProblem(f, id); why != "" {
				out = append(out, fmt.Sprintf("%s %q (%s)", g.verb, f, why))
			}
		}
	}
	return out
}

// grantProblem says why a topic filter grant is overly permissive, or "".
func grantProblem(filter, id string) string {
	levels := strings.Split(filter, "/")
	first := levels[0]
	switch {
	case filter == "#":
		return "every topic"
	case strings.HasPrefix(first, "$"):
		return "broker-internal $-topics"
	case first == "+" || first == "#":
		return "leading wildcard: every top-level tree"
	case first == "devices":
		if len(levels) == 1 {
			return ""
		}
		own := levels[1] == "{id}" || (id != "" && levels[1] == id)
		if !own {
			return "other devices' trees"
		}
	}
	return ""
}
