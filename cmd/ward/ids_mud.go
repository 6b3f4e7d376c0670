package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/netids/assemble"
	"github.com/wardproject/ward/internal/netids/mud"
)

func newIDSMUDCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "mud", Short: "Work with RFC 8520 MUD profiles (segmentation policy)"}
	cmd.AddCommand(newIDSMUDNFTCmd(), newIDSMUDCheckCmd())
	return cmd
}

// idsResolveProfile finds MODEL.json in dir, or reads arg as a file path.
func idsResolveProfile(arg, dir string) (*mud.Profile, string, error) {
	if _, err := os.Stat(arg); err == nil && (strings.HasSuffix(arg, ".json") || dir == "") {
		p, err := assemble.LoadProfile(arg)
		return p, strings.TrimSuffix(filepath.Base(arg), ".json"), err
	}
	if dir == "" {
		return nil, "", fmt.Errorf("%s is not a MUD file; to name a model, pass --mud-dir DIR holding MODEL.json", arg)
	}
	p, err := assemble.LoadProfile(filepath.Join(dir, arg+".json"))
	return p, arg, err
}

func newIDSMUDNFTCmd() *cobra.Command {
	var (
		dir, devicesFile string
		deviceIPs        []string
		controllers      []string
		resolve          bool
	)
	cmd := &cobra.Command{
		Use:   "nft MODEL|FILE",
		Short: "Generate nftables rules that confine a device model to its MUD profile",
		Long: `Generate an nftables ruleset (load with: nft -f FILE) for the forward hook of
the router or firewall between the devices and the rest of the network. Flows
the MUD profile accepts pass, replies of established flows pass, everything
else from or to the model's devices is counted, logged and dropped.

MODEL is looked up as MODEL.json in --mud-dir; a path to a MUD file works too.
The devices' addresses come from --device (repeatable) or from --devices
(rows whose model is MODEL); with none, fill the set @devices4 yourself:
  nft add element inet ward_mud_MODEL devices4 { 192.168.1.20 }
DNS names in the profile become sets; --resolve fills them now (re-run to
refresh, e.g. from cron).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prof, model, err := idsResolveProfile(args[0], dir)
			if err != nil {
				return err
			}
			opts := mud.NFTOptions{Model: model, Controllers: map[string][]netip.Prefix{}}
			for _, s := range deviceIPs {
				a, err := netip.ParseAddr(s)
				if err != nil {
					return fmt.Errorf("--device %q: %w", s, err)
				}
				opts.Devices = append(opts.Devices, a)
			}
			if devicesFile != "" {
				addrs, err := idsModelAddrs(devicesFile, model)
				if err != nil {
					return err
				}
				opts.Devices = append(opts.Devices, addrs...)
			}
			for _, c := range controllers {
				uri, addr, ok := strings.Cut(c, "=")
				if !ok {
					return fmt.Errorf("--controller %q: want URI=ADDRESS[/BITS]", c)
				}
				pfx, err := netip.ParsePrefix(addr)
				if err != nil {
					a, aerr := netip.ParseAddr(addr)
					if aerr != nil {
						return fmt.Errorf("--controller %q: %w", c, aerr)
					}
					pfx = netip.PrefixFrom(a, a.BitLen())
				}
				opts.Controllers[uri] = append(opts.Controllers[uri], pfx)
			}
			if resolve {
				opts.Resolve = func(name string) ([]netip.Addr, error) {
					ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
					defer cancel()
					ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", name)
					return ips, err
				}
			}
			out, err := mud.NFTables(prof, opts)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), out)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "mud-dir", "", "`DIR` holding MODEL.json MUD files")
	cmd.Flags().StringSliceVar(&deviceIPs, "device", nil, "IP `ADDRESS` of a device of this model (repeatable)")
	cmd.Flags().StringVar(&devicesFile, "devices", "", "devices CSV `FILE` (mac_or_ip,device_id,model): take this model's IP rows")
	cmd.Flags().StringSliceVar(&controllers, "controller", nil, "controller class `URI=ADDRESS` (repeatable)")
	cmd.Flags().BoolVar(&resolve, "resolve", false, "resolve the profile's DNS names now and fill their sets")
	return cmd
}

func idsModelAddrs(path, model string) ([]netip.Addr, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read devices file: %w", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ",")
		if len(f) >= 3 && strings.TrimSpace(f[2]) == model {
			seen[strings.TrimSpace(f[0])] = true
		}
	}
	return idsSortedAddrs(seen), nil
}

func newIDSMUDCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate MUD files and print what each allows",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			for _, a := range args {
				p, err := assemble.LoadProfile(a)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s: %s (%s): %d from-device and %d to-device entries\n", a, p.URL, p.Systeminfo, len(p.FromDevice), len(p.ToDevice))
			}
			return nil
		},
	}
}

func idsSortedAddrs(m map[string]bool) []netip.Addr {
	var out []netip.Addr
	for s := range m {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}
