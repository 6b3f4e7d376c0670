package mud

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/wardtest"
)

// nftCase is a profile rendered with one set of options.
type nftCase struct {
	name string
	p    *Profile
	opts NFTOptions
}

func loadFile(t testing.TB, path string) *Profile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

// fullOptions exercise every option: duplicate, IPv4-mapped and zoned
// device addresses, overlapping local networks and controller prefixes
// (with host bits), and a resolver returning both families.
func fullOptions(model string) NFTOptions {
	addrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	prefixes := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	return NFTOptions{
		Model:   model,
		Devices: addrs("192.168.1.20", "192.168.1.21", "192.168.1.20", "::ffff:192.168.1.22", "2001:db8::20", "fe80::20%eth0"),
		LocalNetworks: prefixes("10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/16", "192.168.0.0/16",
			"fd00::/8", "fc00::/7", "fe80::/10", "::ffff:10.0.0.0/104"),
		Controllers: map[string][]netip.Prefix{
			"urn:ietf:params:mud:ntp": prefixes("10.0.0.0/8", "10.0.0.123/32", "192.168.1.5/24", "2001:db8::123/128"),
		},
		Resolve: func(name string) ([]netip.Addr, error) {
			return addrs("52.1.2.3", "52.1.2.3", "::ffff:52.1.2.4", "2001:db8:52::3"), nil
		},
	}
}

// nftCases renders every profile in testdata bare (empty sets to fill)
// and with every option, plus a model name longer than nft's limits.
func nftCases(t *testing.T) []nftCase {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no MUD profiles in testdata (%v)", err)
	}
	var cases []nftCase
	for _, f := range files {
		model := strings.TrimSuffix(filepath.Base(f), ".json")
		p := loadFile(t, f)
		cases = append(cases,
			nftCase{model + "/bare", p, NFTOptions{Model: model}},
			nftCase{model + "/full", p, fullOptions(model)},
			nftCase{model + "/long-model", p, fullOptions(strings.Repeat("Very-Long Model ", 30))},
		)
	}
	return cases
}

func TestNFTablesEdgeCasesGolden(t *testing.T) {
	out, err := NFTables(loadFile(t, filepath.Join("testdata", "edge-cases.json")), fullOptions("sensor-z9"))
	if err != nil {
		t.Fatal(err)
	}
	wardtest.Golden(t, filepath.Join("testdata", "edge-cases.nft.golden"), []byte(out))
}

// nftCommand returns a command running args (an nft or sh command line) in a fresh, empty
// network namespace (wardtest.NetNamespace). nft -c (check mode) needs
// netlink and CAP_NET_ADMIN too: the kernel evaluates the batch without
// committing it.
func nftCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	wardtest.RequireTool(t, "nft")
	prefix := wardtest.NetNamespace(t)
	return exec.Command(prefix[0], slices.Concat(prefix[1:], args)...)
}

var (
	tableRE = regexp.MustCompile(`(?m)^table inet (\S+) \{$`)
	setRE   = regexp.MustCompile(`(?m)^\tset (\S+) \{$`)
)

// rendered is what the generated text declares.
type rendered struct {
	table string
	sets  []string
	rules int // rule lines in chain forward
}

func parseRendered(t *testing.T, rs string) rendered {
	t.Helper()
	var r rendered
	m := tableRE.FindStringSubmatch(rs)
	if m == nil {
		t.Fatalf("no table in:\n%s", rs)
	}
	r.table = m[1]
	for _, m := range setRE.FindAllStringSubmatch(rs, -1) {
		r.sets = append(r.sets, m[1])
	}
	slices.Sort(r.sets)
	_, chain, ok := strings.Cut(rs, "\tchain forward {\n")
	if !ok {
		t.Fatalf("no chain forward in:\n%s", rs)
	}
	chain, _, _ = strings.Cut(chain, "\n\t}\n")
	for _, l := range strings.Split(chain, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "type ") {
			r.rules++
		}
	}
	return r
}

// listed is what nft -j list ruleset reports back.
type listed struct {
	tables, sets []string
	chains       map[string]string // name -> hook
	rules        int
	comments     []string
}

func parseListed(t *testing.T, b []byte) listed {
	t.Helper()
	var doc struct {
		Nftables []map[string]struct {
			Name    string `json:"name"`
			Family  string `json:"family"`
			Hook    string `json:"hook"`
			Comment string `json:"comment"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("nft -j list ruleset: %v\n%s", err, b)
	}
	l := listed{chains: map[string]string{}}
	for _, o := range doc.Nftables {
		for kind, v := range o {
			switch kind {
			case "table":
				l.tables = append(l.tables, v.Family+" "+v.Name)
			case "set":
				l.sets = append(l.sets, v.Name)
			case "chain":
				l.chains[v.Name] = v.Hook
			case "rule":
				l.rules++
				l.comments = append(l.comments, v.Comment)
			}
		}
	}
	slices.Sort(l.sets)
	return l
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%4d %s\n", i+1, l)
	}
	return b.String()
}

// TestNFTablesLoads proves the generated rulesets are valid nftables: the
// real nft checks each one (nft -c -f), then loads it into a throwaway
// network namespace and lists it back.
func TestNFTablesLoads(t *testing.T) {
	nftCommand(t) // skip early without nft or namespaces
	for _, c := range nftCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rs, err := NFTables(c.p, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "ruleset.nft")
			if err := os.WriteFile(file, []byte(rs), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := nftCommand(t, "nft", "-c", "-f", file).CombinedOutput(); err != nil {
				t.Fatalf("nft -c -f rejects the ruleset: %v\n%s\nruleset:\n%s", err, out, numbered(rs))
			}
			load := nftCommand(t, "sh", "-c", `nft -f "$1" && nft -j list ruleset`, "sh", file)
			var stderr strings.Builder
			load.Stderr = &stderr
			out, err := load.Output()
			if err != nil {
				t.Fatalf("nft -f: %v\n%s\nruleset:\n%s", err, stderr.String(), numbered(rs))
			}
			want, got := parseRendered(t, rs), parseListed(t, out)
			if d := cmp.Diff([]string{"inet " + want.table}, got.tables); d != "" {
				t.Errorf("tables (-rendered +loaded):\n%s", d)
			}
			if d := cmp.Diff(want.sets, got.sets); d != "" {
				t.Errorf("sets (-rendered +loaded):\n%s", d)
			}
			if d := cmp.Diff(map[string]string{"forward": "forward"}, got.chains); d != "" {
				t.Errorf("chains (-rendered +loaded):\n%s", d)
			}
			if got.rules != want.rules {
				t.Errorf("loaded %d rules, rendered %d:\n%s", got.rules, want.rules, numbered(rs))
			}
			if slices.Contains(got.comments, "INJECTED") {
				t.Errorf("a name from the MUD file injected a rule:\n%s", numbered(rs))
			}
		})
	}
}
