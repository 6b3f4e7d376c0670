package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/wardproject/ward/internal/netids"
	"github.com/wardproject/ward/internal/netids/mud"
	"github.com/wardproject/ward/internal/netids/rules"
)

func idsEnv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// buildRules wires the rule engine, blocklist, device registry and MUD
// policy into opts.
func (f *idsSensorFlags) buildRules(opts *netids.Options, setup *idsSensorSetup) error {
	var reg *netids.StaticRegistry
	if f.devices != "" {
		df, err := os.Open(f.devices)
		if err != nil {
			return fmt.Errorf("open devices file: %w", err)
		}
		reg, err = netids.ParseStaticRegistry(df)
		df.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f.devices, err)
		}
		opts.Registry = reg
	}
	if !f.noRules {
		ro := rules.Options{}
		if f.blocklist != "" {
			bl, err := rules.LoadBlocklist(f.blocklist, opts.Logger)
			if err != nil {
				return err
			}
			ro.Blocklist = bl
			setup.watch = func(ctx context.Context) {
				hup := make(chan os.Signal, 1)
				signal.Notify(hup, syscall.SIGHUP)
				defer signal.Stop(hup)
				bl.Watch(ctx, 0, hup)
			}
		}
		opts.Inspectors = append(opts.Inspectors, rules.New(ro))
	}
	if f.mudDir != "" {
		if reg == nil {
			return fmt.Errorf("--mud-dir needs --devices to know which device is which model")
		}
		profiles, err := idsLoadProfiles(f.mudDir)
		if err != nil {
			return err
		}
		pol, err := mud.NewPolicy(mud.Options{Profiles: profiles, Lookup: reg.Model})
		if err != nil {
			return err
		}
		opts.Inspectors = append(opts.Inspectors, pol)
	}
	return nil
}

// idsLoadProfiles reads every *.json MUD file of dir, keyed by file name
// without extension (the device model).
func idsLoadProfiles(dir string) (map[string]*mud.Profile, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list MUD files: %w", err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no MUD files (*.json) in %s", dir)
	}
	profiles := map[string]*mud.Profile{}
	for _, p := range paths {
		prof, err := idsLoadProfile(p)
		if err != nil {
			return nil, err
		}
		profiles[strings.TrimSuffix(filepath.Base(p), ".json")] = prof
	}
	return profiles, nil
}

func idsLoadProfile(path string) (*mud.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open MUD file: %w", err)
	}
	defer f.Close()
	prof, err := mud.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return prof, nil
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
