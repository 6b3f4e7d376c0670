package eval

import (
	"net/netip"
	"slices"
	"time"

	"github.com/wardproject/ward/internal/netids/afterimage"
	"github.com/wardproject/ward/internal/netids/conntrack"
)

// Record is what the evaluation keeps of one packet.
type Record struct {
	Label    int8 // 1 malicious, 0 benign, -1 unlabelled
	Learning bool // used for learning: not scored
	Time     time.Time
	Src, Dst netip.Addr
	Conn     conntrack.Key
	HasConn  bool
	Score    float64 // the sensor's score
	Raw      float64 // the learned detector's own score
	Rule     float64 // the rule evidence term (the rules-only baseline)
}

// Incident is an incident as the evaluation needs it.
type Incident struct {
	Host  netip.Addr
	First time.Time
}

// Report is the evaluation of a run: per host first, then per connection,
// then per packet, with the anti-smoothing checks and the baselines.
type Report struct {
	Hosts HostReport `json:"hosts"`
	// Conns: each connection scored by the largest score of its scored
	// packets, labelled malicious when any of its packets is.
	Conns Metrics `json:"connections"`
	// Packets: per packet, last.
	Packets Metrics `json:"packets"`
	// OwnHostAUC: AUC of the sensor's score on the infected hosts' own
	// packets (their connections' benign and malicious packets); a
	// per-host average cannot score well here. -1 when the infected hosts
	// have packets of one class only.
	OwnHostAUC float64 `json:"own_host_auc"`
	// SharedServer: benign hosts that share a server with an infected
	// host, their packets on connections to those servers, and the share
	// of those scored above the threshold (false positives).
	SharedServerHosts   int     `json:"shared_server_hosts"`
	SharedServerPackets int     `json:"shared_server_packets"`
	SharedServerFPR     float64 `json:"shared_server_fpr"`
	// Baselines, per connection and per packet: the learned detector's raw
	// score, a "new endpoint" one-liner (1 when the packet's pair of
	// addresses was not seen while learning), rules only (the rule term).
	Baselines map[string]BaselineReport `json:"baselines"`
}

// BaselineReport is one baseline's figures.
type BaselineReport struct {
	Conns   Metrics `json:"connections"`
	Packets Metrics `json:"packets"`
}

// HostReport is the per-host evaluation.
type HostReport struct {
	// Infected hosts: clients of connections that carry malicious packets.
	Infected []HostResult `json:"infected"`
	Detected int          `json:"detected"`
	// Benign hosts (clients never party to a malicious connection), how long each
	// was seen in the scored part, and the incidents raised on them.
	Benign         int     `json:"benign"`
	BenignHostDays float64 `json:"benign_host_days"`
	FalseIncidents int     `json:"false_incidents"`
	// FalsePerHostDay = FalseIncidents / BenignHostDays; when the count is
	// 0, UpperPerHostDay is the 95 % upper bound (3 / host-days).
	FalsePerHostDay float64 `json:"false_incidents_per_host_day"`
	UpperPerHostDay float64 `json:"false_incidents_per_host_day_95_upper,omitempty"`
}

// HostResult is one infected host's detection.
type HostResult struct {
	Host           netip.Addr    `json:"host"`
	FirstMalicious time.Time     `json:"first_malicious"`
	Detected       bool          `json:"detected"`
	TimeToDetect   time.Duration `json:"time_to_detect,omitempty"`
	// EarlyIncidents: incidents on the host before its first malicious
	// packet (false ones).
	EarlyIncidents int `json:"early_incidents,omitempty"`
}

// Evaluate computes the report of records (every packet, learning ones
// included, in order) against incidents at threshold.
func Evaluate(recs []Record, incidents []Incident, threshold float64) Report {
	var rep Report
	// Hosts.
	infected := map[netip.Addr]time.Time{}
	party := map[netip.Addr]bool{}        // hosts in malicious connections
	seen := map[netip.Addr][2]time.Time{} // scored span of each client
	learntPairs := map[[2]netip.Addr]bool{}
	for _, r := range recs {
		if r.Learning {
			learntPairs[pair(r.Src, r.Dst)] = true
			continue
		}
		if !r.HasConn {
			continue
		}
		if r.Label == 1 {
			party[r.Conn.Client], party[r.Conn.Server] = true, true
		}
		c := r.Conn.Client
		sp, ok := seen[c]
		if !ok {
			sp = [2]time.Time{r.Time, r.Time}
		}
		if r.Time.After(sp[1]) {
			sp[1] = r.Time
		}
		seen[c] = sp
		// ARP is resolution, not a connection a host chose: a C&C server or
		// a victim asking for the bot's address is not infected.
		if r.Label == 1 && r.Conn.Proto != afterimage.ProtoARP {
			if t, ok := infected[c]; !ok || r.Time.Before(t) {
				infected[c] = r.Time
			}
		}
	}
	first := map[netip.Addr]time.Time{}
	for _, in := range incidents {
		if t, ok := first[in.Host]; !ok || in.First.Before(t) {
			first[in.Host] = in.First
		}
	}
	for h, fm := range infected {
		hr := HostResult{Host: h, FirstMalicious: fm}
		for _, in := range incidents {
			if in.Host != h {
				continue
			}
			if in.First.Before(fm) {
				hr.EarlyIncidents++
			} else if !hr.Detected || in.First.Sub(fm) < hr.TimeToDetect {
				hr.Detected, hr.TimeToDetect = true, in.First.Sub(fm)
			}
		}
		if hr.Detected {
			rep.Hosts.Detected++
		}
		rep.Hosts.Infected = append(rep.Hosts.Infected, hr)
	}
	slices.SortFunc(rep.Hosts.Infected, func(a, b HostResult) int { return a.Host.Compare(b.Host) })
	for h, sp := range seen {
		if party[h] {
			continue // infected, or a party to malicious connections
		}
		rep.Hosts.Benign++
		rep.Hosts.BenignHostDays += sp[1].Sub(sp[0]).Hours() / 24
		for _, in := range incidents {
			if in.Host == h {
				rep.Hosts.FalseIncidents++
			}
		}
	}
	if d := rep.Hosts.BenignHostDays; d > 0 {
		rep.Hosts.FalsePerHostDay = float64(rep.Hosts.FalseIncidents) / d
		if rep.Hosts.FalseIncidents == 0 {
			rep.Hosts.UpperPerHostDay = 3 / d
		}
	}

	// Connections and packets, sensor and baselines.
	type connAgg struct {
		label                      int8
		score, raw, endpoint, rule float64
	}
	conns := map[conntrack.Key]*connAgg{}
	var order []conntrack.Key
	var ps, praw, pend, prule []float64
	var pl []int8
	var own []float64
	var ownL []int8
	infServers := map[netip.Addr]bool{}
	for _, r := range recs {
		if !r.Learning && r.HasConn {
			if _, ok := infected[r.Conn.Client]; ok {
				infServers[r.Conn.Server] = true
			}
		}
	}
	shared := map[netip.Addr]bool{}
	var sharedFP int
	for _, r := range recs {
		if r.Learning || r.Label < 0 {
			continue
		}
		endpoint := 0.0
		if !learntPairs[pair(r.Src, r.Dst)] {
			endpoint = 1
		}
		ps, praw, pend, prule, pl = append(ps, r.Score), append(praw, r.Raw), append(pend, endpoint), append(prule, r.Rule), append(pl, r.Label)
		if !r.HasConn {
			continue
		}
		a := conns[r.Conn]
		if a == nil {
			a = &connAgg{}
			conns[r.Conn] = a
			order = append(order, r.Conn)
		}
		a.label = max(a.label, r.Label)
		a.score, a.raw, a.endpoint, a.rule = max(a.score, r.Score), max(a.raw, r.Raw), max(a.endpoint, endpoint), max(a.rule, r.Rule)
		if _, ok := infected[r.Conn.Client]; ok {
			own, ownL = append(own, r.Score), append(ownL, r.Label)
		} else if infServers[r.Conn.Server] && r.Label == 0 {
			shared[r.Conn.Client] = true
			rep.SharedServerPackets++
			if r.Score > threshold {
				sharedFP++
			}
		}
	}
	rep.SharedServerHosts = len(shared)
	if rep.SharedServerPackets > 0 {
		rep.SharedServerFPR = float64(sharedFP) / float64(rep.SharedServerPackets)
	}
	rep.Packets, _, _ = Compute(ps, pl, threshold)
	rep.OwnHostAUC = -1
	if m, _, err := Compute(own, ownL, 0); err == nil {
		rep.OwnHostAUC = m.AUC
	}
	cs, craw, cend, crule := make([]float64, len(order)), make([]float64, len(order)), make([]float64, len(order)), make([]float64, len(order))
	cl := make([]int8, len(order))
	for i, k := range order {
		a := conns[k]
		cs[i], craw[i], cend[i], crule[i], cl[i] = a.score, a.raw, a.endpoint, a.rule, a.label
	}
	rep.Conns, _, _ = Compute(cs, cl, threshold)
	rep.Baselines = map[string]BaselineReport{}
	for name, v := range map[string][2][]float64{"learned": {craw, praw}, "new-endpoint": {cend, pend}, "rules-only": {crule, prule}} {
		var b BaselineReport
		b.Conns, _, _ = Compute(v[0], cl, 0)
		b.Packets, _, _ = Compute(v[1], pl, 0)
		rep.Baselines[name] = b
	}
	return rep
}

func pair(a, b netip.Addr) [2]netip.Addr {
	if b.Less(a) {
		a, b = b, a
	}
	return [2]netip.Addr{a, b}
}
