package eval

import (
	"net/netip"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/netids/afterimage"
	"github.com/wardproject/ward/internal/netids/conntrack"
)

func TestEvaluate(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr
	bot, dev, gw, cnc, victim := a("10.0.0.15"), a("10.0.0.16"), a("10.0.0.1"), a("10.0.2.20"), a("10.0.1.5")
	conn := func(c, s netip.Addr, port uint16, p afterimage.Proto) conntrack.Key {
		return conntrack.Key{Client: c, Server: s, Port: port, Proto: p}
	}
	var recs []Record
	add := func(at time.Duration, k conntrack.Key, label int8, score float64, learning bool) {
		recs = append(recs, Record{Label: label, Learning: learning, Time: t0.Add(at), Src: k.Client, Dst: k.Server,
			Conn: k, HasConn: true, Score: score, Raw: score / 2})
	}
	add(0, conn(dev, gw, 1883, afterimage.ProtoTCP), 0, 0.1, true) // learning
	add(0, conn(bot, gw, 1883, afterimage.ProtoTCP), 0, 0.1, true)
	for i := 0; i < 10; i++ {
		at := time.Duration(i+1) * time.Hour
		add(at, conn(dev, gw, 1883, afterimage.ProtoTCP), 0, 0.1, false) // benign, shares gw with the bot
		add(at, conn(bot, gw, 1883, afterimage.ProtoTCP), 0, 0.2, false) // the bot's own benign traffic
		add(at+time.Minute, conn(bot, cnc, 666, afterimage.ProtoTCP), 1, 0.9, false)
		add(at, conn(cnc, bot, 0, afterimage.ProtoARP), 1, 0.9, false)    // the C&C resolving the bot: not infected
		add(at, conn(victim, bot, 0, afterimage.ProtoARP), 1, 0.9, false) // nor is the victim
	}
	incidents := []Incident{
		{Host: bot, First: t0.Add(30 * time.Minute)},          // before its first malicious packet
		{Host: bot, First: t0.Add(time.Hour + 3*time.Minute)}, // 2 min after it
		{Host: dev, First: t0.Add(5 * time.Hour)},             // false
	}
	r := Evaluate(recs, incidents, 0.5)
	h := r.Hosts
	if len(h.Infected) != 1 || h.Infected[0].Host != bot || !h.Infected[0].Detected ||
		h.Infected[0].TimeToDetect != 2*time.Minute || h.Infected[0].EarlyIncidents != 1 {
		t.Errorf("infected %+v, want the bot detected after 2 min with one early incident", h.Infected)
	}
	if h.Benign != 1 || h.FalseIncidents != 1 || h.BenignHostDays < 0.37 || h.BenignHostDays > 0.38 {
		t.Errorf("benign hosts %d, false incidents %d over %.3f host-days; want 1, 1, 9 h", h.Benign, h.FalseIncidents, h.BenignHostDays)
	}
	if r.OwnHostAUC != 1 {
		t.Errorf("own-host AUC %v, want 1", r.OwnHostAUC)
	}
	if r.SharedServerHosts != 1 || r.SharedServerPackets != 10 || r.SharedServerFPR != 0 {
		t.Errorf("shared server: %d hosts, %d packets, FPR %v", r.SharedServerHosts, r.SharedServerPackets, r.SharedServerFPR)
	}
	if r.Conns.Positives != 3 || r.Conns.Negatives != 2 || r.Conns.AUC != 1 {
		t.Errorf("connections %+v", r.Conns)
	}
	if b := r.Baselines["new-endpoint"]; b.Conns.Positives != 3 {
		t.Errorf("new-endpoint baseline %+v", b)
	}
	// No false incident: the 95 % upper bound is 3 per host-days.
	r = Evaluate(recs, incidents[:2], 0.5)
	if r.Hosts.FalseIncidents != 0 || r.Hosts.UpperPerHostDay < 7.9 || r.Hosts.UpperPerHostDay > 8.1 {
		t.Errorf("no false incident: upper bound %v per host-day, want 3/0.375 = 8", r.Hosts.UpperPerHostDay)
	}
}
