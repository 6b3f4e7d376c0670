package audit

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// checkCertificates audits every unrevoked, unexpired certificate's key,
// key sharing between devices, server certificate expiry and the
// issuing CA's revocation. Per-device expiry and age are judged in
// checkDevices on each device's current certificate.
func (a *auditor) checkCertificates() {
	certs := a.s.Certificates
	type keyUse struct {
		first int32
		more  []int32
	}
	keys := make(map[[16]byte]*keyUse, len(certs))
	var shared [][16]byte
	server := map[string]int{} // subject -> newest unrevoked server cert
	for i := range certs {
		c := &certs[i]
		if c.Revoked() || !c.NotAfter.After(a.now) {
			continue
		}
		if c.Kind == "server" {
			if j, ok := server[c.Subject]; !ok || c.NotAfter.After(certs[j].NotAfter) {
				server[c.Subject] = i
			}
		}
		ki, err := parseCertKey(c.DER)
		if err != nil {
			if len(c.DER) > 0 {
				a.add(a.weakCheck(c.Kind), Medium, fmt.Sprintf("certificate %s (%s) could not be parsed to check its key: %v", c.Serial, c.Subject, err), a.certRes(i)...)
			}
			continue
		}
		if why := ki.weakness(&a.o, true); why != "" {
			a.add(a.weakCheck(c.Kind), "", fmt.Sprintf("certificate %s (%s, expires %s): %s", c.Serial, c.Subject, date(c.NotAfter), why), a.certRes(i)...)
		}
		if c.Kind != "device" || c.DeviceID == "" {
			continue
		}
		if u, ok := keys[ki.KeyHash]; !ok {
			keys[ki.KeyHash] = &keyUse{first: int32(i)}
		} else if certs[u.first].DeviceID != c.DeviceID || len(u.more) > 0 {
			if len(u.more) == 0 {
				shared = append(shared, ki.KeyHash)
			}
			u.more = append(u.more, int32(i))
		}
	}
	for _, h := range shared {
		u := keys[h]
		idx := append([]int32{u.first}, u.more...)
		var devs, parts []string
		for _, i := range idx {
			c := &certs[i]
			if !slices.Contains(devs, c.DeviceID) {
				devs = append(devs, c.DeviceID)
			}
			parts = append(parts, c.DeviceID+" (serial "+c.Serial+")")
		}
		if len(devs) < 2 {
			continue
		}
		slices.Sort(devs)
		slices.Sort(parts)
		res := []string{"key:" + hex.EncodeToString(h[:])}
		for _, d := range devs {
			res = append(res, deviceRes(d))
		}
		a.add(CheckDeviceCertShared, "", fmt.Sprintf("one public key (SHA-256 prefix %s) is certified for %s: %s",
			hex.EncodeToString(h[:8]), plural(len(devs), "device", "devices"), strings.Join(parts, ", ")), res...)
	}
	for _, i := range server {
		c := &certs[i]
		if left := c.NotAfter.Sub(a.now); left <= a.o.CertExpiringWithin {
			a.add(CheckServerCertExpiring, "", fmt.Sprintf("server certificate %s (%s) expires on %s (in %s; threshold %s)",
				c.Serial, c.Subject, date(c.NotAfter), days(left), days(a.o.CertExpiringWithin)), "certificate:"+c.Serial)
		}
	}
	if a.s.IssuerRevoked {
		var devs []int32
		for d, j := range a.cur {
			if j >= 0 && certs[j].NotAfter.After(a.now) {
				devs = append(devs, int32(d))
			}
		}
		if len(devs) > 0 {
			a.add(CheckIssuerRevoked, "", fmt.Sprintf("the issuing CA is revoked and %s still hold unrevoked, unexpired certificates it signed",
				plural(len(devs), "device", "devices")), a.devicesRes([]string{"ca:issuer"}, devs)...)
		}
	}
}

func (a *auditor) weakCheck(kind string) string {
	if kind == "device" {
		return CheckDeviceCertWeakKey
	}
	return CheckServerCertWeakKey
}

func (a *auditor) certRes(i int) []string {
	c := &a.s.Certificates[i]
	if c.DeviceID != "" {
		return []string{"certificate:" + c.Serial, deviceRes(c.DeviceID)}
	}
	return []string{"certificate:" + c.Serial}
}

// checkDeviceCert judges device d's current certificate.
func (a *auditor) checkDeviceCert(d int32) {
	dev := &a.s.Devices[d]
	if !live(dev) {
		return
	}
	j := a.cur[d]
	if j < 0 {
		return
	}
	c := &a.s.Certificates[j]
	res := func() []string { return []string{deviceRes(dev.ID), "certificate:" + c.Serial} }
	left := c.NotAfter.Sub(a.now)
	switch {
	case left <= 0:
		a.add(CheckDeviceCertExpired, "", fmt.Sprintf("%s device's newest certificate %s expired on %s (%s ago)",
			dev.Status, c.Serial, date(c.NotAfter), days(-left)), res()...)
	case left <= a.o.CertExpiringWithin:
		a.add(CheckDeviceCertExpiring, "", fmt.Sprintf("certificate %s expires on %s (in %s; threshold %s) and no newer certificate was issued",
			c.Serial, date(c.NotAfter), days(left), days(a.o.CertExpiringWithin)), res()...)
	}
	if left <= 0 {
		return
	}
	issued := c.IssuedAt
	if issued.IsZero() {
		issued = c.NotBefore
	}
	if age := a.now.Sub(issued); age > a.o.DeviceCertMaxAge {
		a.add(CheckDeviceCertAge, "", fmt.Sprintf("certificate %s was issued on %s (%s ago; maximum %s)",
			c.Serial, date(issued), days(age), days(a.o.DeviceCertMaxAge)), res()...)
	}
	if v := c.NotAfter.Sub(c.NotBefore); v > a.o.DeviceCertMaxValidity {
		a.add(CheckDeviceCertValidity, "", fmt.Sprintf("certificate %s is valid for %s (%s to %s; policy %s)",
			c.Serial, days(v), date(c.NotBefore), date(c.NotAfter), days(a.o.DeviceCertMaxValidity)), res()...)
	}
}

// serialOwner returns the index of the certificate with the serial, or
// -1; the index is built on first use.
func (a *auditor) serialOwner(serial string) int {
	if a.serials == nil {
		a.serials = make(map[string]int32, len(a.s.Certificates))
		for i := range a.s.Certificates {
			a.serials[a.s.Certificates[i].Serial] = int32(i)
		}
	}
	if i, ok := a.serials[serial]; ok {
		return int(i)
	}
	return -1
}

// checkConnections audits what the gateway saw of device d.
func (a *auditor) checkConnections(d int32, dc *DeviceConnections) {
	dev := &a.s.Devices[d]
	certs := a.s.Certificates
	var curSerial string
	if j := a.cur[d]; j >= 0 {
		curSerial = certs[j].Serial
	}
	var revoked, foreign []string
	for _, s := range dc.Serials {
		if s == curSerial {
			continue
		}
		i := a.serialOwner(strings.ToLower(s))
		if i < 0 {
			continue
		}
		c := &certs[i]
		switch {
		case c.Kind == "device" && c.DeviceID != "" && c.DeviceID != dev.ID:
			foreign = append(foreign, s+" (issued to "+c.DeviceID+")")
		case c.Revoked():
			revoked = append(revoked, s+" (revoked "+date(c.RevokedAt)+reasonSuffix(c.RevokeReason)+")")
		}
	}
	if n := dc.Refused["revoked"]; n > 0 || len(revoked) > 0 {
		var parts []string
		if n > 0 {
			parts = append(parts, fmt.Sprintf("the gateway refused %s with a revoked certificate in the last %s", plural(n, "connection", "connections"), window(a.s.Window)))
		}
		if len(revoked) > 0 {
			parts = append(parts, "revoked serials presented: "+strings.Join(revoked, ", "))
		}
		if len(dc.SourceIPs) > 0 {
			parts = append(parts, "source addresses: "+strings.Join(capList(dc.SourceIPs, 10), ", "))
		}
		a.add(CheckRevokedCertConnecting, "", strings.Join(parts, "; "), deviceRes(dev.ID))
	}
	if len(foreign) > 0 {
		a.add(CheckDeviceCertShared, "", "the device presented certificates issued to other devices: "+strings.Join(foreign, ", "), deviceRes(dev.ID))
	}
	if len(dc.SourceIPs) > a.o.MaxSourceIPs {
		a.add(CheckDeviceCertManySources, "", fmt.Sprintf("the device's certificate was presented from %d source addresses in the last %s (threshold %d): %s",
			len(dc.SourceIPs), window(a.s.Window), a.o.MaxSourceIPs, strings.Join(capList(dc.SourceIPs, 10), ", ")), deviceRes(dev.ID))
	}
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ", " + r
}

func window(w time.Duration) string {
	if w <= 0 {
		w = 24 * time.Hour
	}
	if w%day == 0 && w > day {
		return days(w)
	}
	if w%time.Hour == 0 {
		return itoa(int(w/time.Hour)) + " hours"
	}
	return w.String()
}

// capList returns at most n items of l, sorted, with "… and N more".
func capList(l []string, n int) []string {
	s := slices.Clone(l)
	slices.Sort(s)
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("… and %d more", len(s)-n))
}
