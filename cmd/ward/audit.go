package main

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/compliance"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/vuln"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Audit the fleet (checks mapped to ETSI EN 303 645, NIST IR 8259A, the EU CRA) and show the audit trail"}
	run := &cobra.Command{
		Use: "run", Short: "Audit the fleet now and print the open findings", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return findingsCmd(cmd, "POST", "/api/v1/audit/run")
		},
	}
	addClientFlags(run, true)
	var resolved bool
	findings := &cobra.Command{
		Use: "findings [--resolved]", Short: "Print the findings of the last audits (first seen, last seen, suppressed)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return findingsCmd(cmd, "GET", "/api/v1/audit/findings?resolved="+strconv.FormatBool(resolved))
		},
	}
	findings.Flags().BoolVar(&resolved, "resolved", false, "include resolved findings")
	addClientFlags(findings, true)
	var resource, reason string
	var expires time.Duration
	suppress := &cobra.Command{
		Use: "suppress CHECK --reason TEXT [--resource RES] [--expires 720h]", Short: "Suppress a check's findings (all, or one resource) until they expire", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			var sup store.Suppression
			req := api.SuppressRequest{Check: args[0], Resource: resource, Reason: reason, ExpiresAt: time.Now().Add(expires)}
			if err := c.Post(cmd.Context(), "/api/v1/audit/suppressions", req, &sup); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "suppression %s: %s %s until %s\n", sup.ID, sup.Check, sup.Resource, fmtTime(sup.ExpiresAt))
			return nil
		},
	}
	suppress.Flags().StringVar(&resource, "resource", "", "only this resource, e.g. device:sensor-17 (default: every resource)")
	suppress.Flags().StringVar(&reason, "reason", "", "why the risk is accepted (required)")
	suppress.Flags().DurationVar(&expires, "expires", 30*24*time.Hour, "how long the suppression lasts (at most a year)")
	suppress.MarkFlagRequired("reason")
	addClientFlags(suppress, false)
	suppress.AddCommand(newSuppressListCmd(), newSuppressDeleteCmd())
	cmd.AddCommand(run, findings, suppress, newAuditLogCmd())
	return cmd
}

func newSuppressListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "list", Short: "List the suppressions, expired ones included", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var ss []store.Suppression
			if err := c.Get(cmd.Context(), "/api/v1/audit/suppressions", &ss); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), ss)
			}
			rows := [][]string{}
			for _, s := range ss {
				res := s.Resource
				if res == "" {
					res = "(all)"
				}
				exp := fmtTime(s.ExpiresAt)
				if !s.ExpiresAt.After(time.Now()) {
					exp += " (expired)"
				}
				rows = append(rows, []string{s.ID, s.Check, res, exp, s.CreatedBy, s.Reason})
			}
			return table(cmd.OutOrStdout(), []string{"ID", "CHECK", "RESOURCE", "EXPIRES", "BY", "REASON"}, rows)
		},
	}
	addClientFlags(cmd, true)
	return cmd
}

func newSuppressDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "delete ID", Short: "Delete a suppression (its findings show again from the next audit run)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "DELETE", "/api/v1/audit/suppressions/"+pathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": args[0], "deleted": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "suppression %s deleted\n", args[0])
			return nil
		},
	}
	addClientFlags(cmd, true)
	return cmd
}

func findingsCmd(cmd *cobra.Command, method, path string) error {
	c, out, err := apiOutput(cmd)
	if err != nil {
		return err
	}
	var fs []audit.Finding
	if err := c.Do(cmd.Context(), method, path, nil, &fs); err != nil {
		return err
	}
	if fs == nil {
		fs = []audit.Finding{}
	}
	if out == "json" {
		return printJSON(cmd.OutOrStdout(), fs)
	}
	rows := [][]string{}
	for _, f := range fs {
		res := strings.Join(f.Resources, ",")
		if len(res) > 60 {
			res = res[:57] + "..."
		}
		sev := string(f.Severity)
		if f.Suppressed {
			sev += " (suppressed)"
		}
		rows = append(rows, []string{sev, f.Check, res, f.Title})
	}
	return table(cmd.OutOrStdout(), []string{"SEVERITY", "CHECK", "RESOURCES", "FINDING"}, rows)
}

func uploadCmd(cmd *cobra.Command, path, contentType string, data []byte, out any) error {
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	return c.DoRaw(cmd.Context(), "POST", path, contentType, data, out)
}

func newSBOMCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "sbom", Short: "Import and list firmware SBOMs (CycloneDX 1.4-1.6 JSON, SPDX 2.3 JSON)"}
	var model, firmware string
	imp := &cobra.Command{
		Use: "import --model M --firmware V FILE", Short: "Import the SBOM of a model's firmware version", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			// Validate locally first: a bad document gets the same clear error without a round trip.
			if _, err := vuln.ParseSBOM(filepath.Base(args[0]), bytes.NewReader(data), compliance.MaxDocumentBytes); err != nil {
				return err
			}
			var rec store.SBOMRecord
			q := url.Values{"model": {model}, "firmware": {firmware}, "source": {filepath.Base(args[0])}}
			if err := uploadCmd(cmd, "/api/v1/sboms?"+q.Encode(), "application/json", data, &rec); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %s for %s %s: %s, %d components\n", args[0], rec.Model, rec.Firmware, rec.Format, rec.Components)
			return nil
		},
	}
	imp.Flags().StringVar(&model, "model", "", "device model (required)")
	imp.Flags().StringVar(&firmware, "firmware", "", "firmware version (required)")
	imp.MarkFlagRequired("model")
	imp.MarkFlagRequired("firmware")
	addClientFlags(imp, false)
	list := &cobra.Command{
		Use: "list", Short: "List imported SBOMs", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var ls []store.SBOMRecord
			if err := c.Get(cmd.Context(), "/api/v1/sboms", &ls); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), ls)
			}
			rows := [][]string{}
			for _, r := range ls {
				rows = append(rows, []string{r.Model, r.Firmware, r.Format, strconv.Itoa(r.Components), r.Source, fmtTime(r.ImportedAt)})
			}
			return table(cmd.OutOrStdout(), []string{"MODEL", "FIRMWARE", "FORMAT", "COMPONENTS", "SOURCE", "IMPORTED"}, rows)
		},
	}
	addClientFlags(list, true)
	cmd.AddCommand(imp, list)
	return cmd
}

// zipDir packs every *.json file under dir into an in-memory zip.
func zipDir(dir string) ([]byte, int, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n++
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if err := zw.Close(); err != nil {
		return nil, 0, err
	}
	return buf.Bytes(), n, nil
}

func newAdvisoriesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "advisories", Short: "Import OSV advisories (offline)"}
	imp := &cobra.Command{
		Use: "import FILE|DIR|ZIP", Short: "Import OSV records: one JSON file, a directory of them, or an OSV ecosystem zip", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := os.Stat(args[0])
			if err != nil {
				return err
			}
			var data []byte
			if st.IsDir() {
				var n int
				if data, n, err = zipDir(args[0]); err != nil {
					return err
				}
				if n == 0 {
					return fmt.Errorf("%s holds no *.json file", args[0])
				}
			} else if data, err = os.ReadFile(args[0]); err != nil {
				return err
			}
			var res api.OSVImportResponse
			if err := uploadCmd(cmd, "/api/v1/advisories?source="+url.QueryEscape(filepath.Base(args[0])), "application/octet-stream", data, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d OSV records (%d withdrawn, %d unchanged) from %s\n", res.Imported, res.Withdrawn, res.Unchanged, args[0])
			for _, e := range res.Errors {
				fmt.Fprintf(cmd.ErrOrStderr(), "rejected: %s\n", e)
			}
			return nil
		},
	}
	addClientFlags(imp, false)
	cmd.AddCommand(imp)
	return cmd
}

func newKEVCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "kev", Short: "Import the CISA Known Exploited Vulnerabilities catalogue (offline)"}
	imp := &cobra.Command{
		Use: "import FILE", Short: "Import known_exploited_vulnerabilities.json", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var res map[string]any
			if err := uploadCmd(cmd, "/api/v1/kev?source="+url.QueryEscape(filepath.Base(args[0])), "application/json", data, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported KEV catalogue %v: %v entries\n", res["catalog_version"], res["entries"])
			return nil
		},
	}
	addClientFlags(imp, false)
	cmd.AddCommand(imp)
	return cmd
}

func newVulnCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "vuln", Short: "Show the fleet's vulnerability exposure (SBOMs x OSV x KEV)"}
	var device string
	list := &cobra.Command{
		Use: "list [--device ID]", Short: "Per device, the vulnerabilities of its firmware", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var ex []compliance.DeviceExposure
			path := "/api/v1/vulnerabilities"
			if device != "" {
				path += "?device=" + url.QueryEscape(device)
			}
			if err := c.Get(cmd.Context(), path, &ex); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), ex)
			}
			rows := [][]string{}
			for _, d := range ex {
				if !d.SBOM {
					rows = append(rows, []string{d.Device, "-", "(no SBOM for " + d.Model + " " + d.Firmware + ")", "", "", "", ""})
				}
				for _, v := range d.Vulnerabilities {
					kev := ""
					if v.KEV {
						kev = "KEV"
					}
					rows = append(rows, []string{d.Device, v.ID, v.Package, v.Installed, v.Fixed, v.Severity, kev})
				}
			}
			return table(cmd.OutOrStdout(), []string{"DEVICE", "ID", "PACKAGE", "INSTALLED", "FIXED", "SEVERITY", "KEV"}, rows)
		},
	}
	list.Flags().StringVar(&device, "device", "", "one device")
	addClientFlags(list, true)
	feeds := &cobra.Command{
		Use: "feeds", Short: "List the imported feeds and when they were imported", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var fs []vuln.Feed
			if err := c.Get(cmd.Context(), "/api/v1/feeds", &fs); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), fs)
			}
			rows := [][]string{}
			for _, f := range fs {
				rows = append(rows, []string{f.Name, fmtTime(f.ImportedAt), strconv.Itoa(f.Records), f.Version})
			}
			return table(cmd.OutOrStdout(), []string{"FEED", "IMPORTED", "RECORDS", "VERSION"}, rows)
		},
	}
	addClientFlags(feeds, true)
	cmd.AddCommand(list, feeds)
	return cmd
}

// reportFormats are the formats of ward report (--format).
var reportFormats = []string{"html", "json", "sarif", "csv"}

func newReportCmd() *cobra.Command {
	var standard, format, outFile, alias string
	cmd := &cobra.Command{
		Use:   "report --standard etsi-en-303-645|nist-ir-8259a|cra --format html|json|sarif|csv --out FILE",
		Short: "Write a compliance report: score per provision with evidence, exposure, top risks, trends",
		Long: `Writes a compliance report in --format (html, json, sarif or csv) to --out FILE,
or to standard output. -o FILE is an older spelling of --out; since -o is the
output format on every other command, a format name given to -o (-o json) is
refused with a pointer to --format rather than written to a file named json.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("output") {
				if cmd.Flags().Changed("out") {
					return errors.New("give the file once: --out FILE (-o FILE is its older spelling)")
				}
				if looksLikeFormat(alias) {
					return fmt.Errorf("-o %s looks like a format, not a file: use --format %s (and --out FILE to write a file)", alias, strings.ToLower(alias))
				}
				outFile = alias
			}
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			q := url.Values{"standard": {standard}, "format": {format}}
			data, err := c.Raw(cmd.Context(), "/api/v1/report?"+q.Encode())
			if err != nil {
				return err
			}
			if outFile == "" || outFile == "-" {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			if err := os.WriteFile(outFile, data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d bytes)\n", outFile, len(data))
			return nil
		},
	}
	cmd.Flags().StringVar(&standard, "standard", "etsi-en-303-645", "etsi-en-303-645, nist-ir-8259a or cra")
	cmd.Flags().StringVar(&format, "format", "html", "html, json, sarif or csv")
	cmd.Flags().StringVar(&outFile, "out", "", "file to write (default: standard output)")
	cmd.Flags().StringVarP(&alias, "output", "o", "", "older spelling of --out FILE (a format name is refused: use --format)")
	addClientFlags(cmd, false)
	return cmd
}

// looksLikeFormat reports whether a value given to report's -o is an
// output or report format name rather than a file.
func looksLikeFormat(v string) bool {
	v = strings.ToLower(strings.TrimPrefix(v, "."))
	return slices.Contains(reportFormats, v) || slices.Contains([]string{"table", "yaml", "text", "pdf", "markdown", "md", "xml"}, v)
}

func newModelCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "model", Short: "List and show device models; declare their support period and latest firmware"}
	var supportEnds, latest, released string
	set := &cobra.Command{
		Use: "set MODEL [--support-ends 2030-12-31] [--latest-firmware V --released 2026-06-01]", Short: "Set a model's support period and latest firmware", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m := audit.Model{Name: args[0], LatestFirmware: latest}
			for _, f := range []struct {
				v   string
				dst *time.Time
				n   string
			}{{supportEnds, &m.SupportEnds, "--support-ends"}, {released, &m.LatestFirmwareReleased, "--released"}} {
				if f.v == "" {
					continue
				}
				t, err := time.Parse("2006-01-02", f.v)
				if err != nil {
					return fmt.Errorf("%s must be a date like 2030-12-31", f.n)
				}
				*f.dst = t
			}
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "PUT", "/api/v1/models/"+pathEscape(args[0]), m, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "model %s updated\n", args[0])
			return nil
		},
	}
	set.Flags().StringVar(&supportEnds, "support-ends", "", "end of the declared security-support period (YYYY-MM-DD)")
	set.Flags().StringVar(&latest, "latest-firmware", "", "latest firmware version released for the model")
	set.Flags().StringVar(&released, "released", "", "release date of the latest firmware (YYYY-MM-DD)")
	addClientFlags(set, false)
	cmd.AddCommand(set, newModelListCmd(), newModelShowCmd())
	return cmd
}

func newModelListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "list", Short: "List the models that have a shared policy", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var ps []store.ModelPolicy
			if err := c.Get(cmd.Context(), "/api/v1/models", &ps); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), ps)
			}
			rows := [][]string{}
			for _, p := range ps {
				l := policyLines(p.Policy)
				rows = append(rows, []string{p.Model, l[0][1], l[1][1], l[2][1], l[3][1], l[4][1], l[5][1]})
			}
			return table(cmd.OutOrStdout(), []string{"MODEL", "PUBLISH", "SUBSCRIBE", "MAX BYTES", "MSG/S", "BYTES/S", "CONNECTS/MIN"}, rows)
		},
	}
	addClientFlags(cmd, true)
	return cmd
}

func newModelShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "show MODEL", Short: "Show a model: policy, support period, firmware versions in the fleet, device count, open findings", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var v api.ModelView
			if err := c.Get(cmd.Context(), "/api/v1/models/"+pathEscape(args[0]), &v); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Model:            %s\nDevices:          %d", v.Model, v.Devices)
			statuses := make([]string, 0, len(v.ByStatus))
			for _, st := range []store.DeviceStatus{store.StatusActive, store.StatusPending, store.StatusQuarantined, store.StatusRevoked, store.StatusRetired} {
				if n := v.ByStatus[st]; n > 0 {
					statuses = append(statuses, fmt.Sprintf("%d %s", n, st))
				}
			}
			if len(statuses) > 0 {
				fmt.Fprintf(w, " (%s)", strings.Join(statuses, ", "))
			}
			fmt.Fprintln(w)
			if m := v.Info; m != nil {
				if !m.SupportEnds.IsZero() {
					fmt.Fprintf(w, "Support ends:     %s\n", m.SupportEnds.Format("2006-01-02"))
				}
				if m.LatestFirmware != "" {
					fmt.Fprintf(w, "Latest firmware:  %s (released %s)\n", m.LatestFirmware, m.LatestFirmwareReleased.Format("2006-01-02"))
				}
			}
			fmt.Fprintln(w, "Policy:")
			printPolicy(w, "  ", v.Policy)
			fmt.Fprintln(w, "Firmware in the fleet:")
			versions := make([]string, 0, len(v.Firmware))
			for fw := range v.Firmware {
				versions = append(versions, fw)
			}
			sort.Strings(versions)
			rows := [][]string{}
			for _, fw := range versions {
				rows = append(rows, []string{"  " + orDash(fw), strconv.Itoa(v.Firmware[fw])})
			}
			table(w, []string{"  VERSION", "DEVICES"}, rows)
			fmt.Fprintf(w, "Open findings: %d\n", len(v.Findings))
			rows = [][]string{}
			for _, f := range v.Findings {
				rows = append(rows, []string{"  " + string(f.Severity), f.Check, f.Title})
			}
			if len(rows) > 0 {
				return table(w, []string{"  SEVERITY", "CHECK", "FINDING"}, rows)
			}
			return nil
		},
	}
	addClientFlags(cmd, true)
	return cmd
}
