package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/compliance"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/server"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
	"github.com/wardproject/ward/internal/vuln"
)

func newFirmwareCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "firmware",
		Short: "Publish firmware to the TUF repository and list what is published (see docs/updates.md)",
	}
	var rel update.Release
	var sbomFile string
	publish := &cobra.Command{
		Use:   "publish --model MODEL --version VERSION FILE [--sbom sbom.cdx.json] [--min-version V] [--notes TEXT]",
		Short: "Store FILE content-addressed and sign it as MODEL's firmware VERSION in <data-dir>/tuf",
		Long: `Runs on the machine that holds the data directory and the model's key
(<data-dir>/tuf-keys: on a site, every key). The first firmware of a model
creates its delegation models/<model> with a new key, which needs the targets
key; without it the command names the key that is missing.

With --sbom, the SBOM (CycloneDX 1.4-1.6 or SPDX 2.3 JSON) is checked first and
imported for MODEL VERSION through the server's API (--server, WARD_TOKEN),
before anything is published: an invalid SBOM, or a server that cannot take
it, refuses the whole publish and nothing is written.

A published version never changes: publishing the same file again is a no-op,
anything else is refused. The version and --min-version must be orderable
(numeric dot-separated, optional -prerelease and +build).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rel.File = filepath.Base(args[0])
			if err := rel.Check(); err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			site := update.Site{DataDir: cfg.DataDir, Passphrase: []byte(cfg.PKI.KeyPassphrase), Expiries: server.UpdateExpiries(cfg)}
			out := cmd.OutOrStdout()
			if sbomFile != "" {
				rec, err := importReleaseSBOM(cmd, rel, sbomFile)
				if err != nil {
					return fmt.Errorf("%w; nothing was published", err)
				}
				fmt.Fprintf(out, "SBOM %s imported for %s %s: %s, %d components\n", sbomFile, rec.Model, rec.Firmware, rec.Format, rec.Components)
			}
			fw, err := site.Publish(cmd.Context(), rel, f)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "published %s %s: %s, %d bytes, sha256 %s\n", fw.Model, fw.Version, fw.Path, fw.Length, fw.SHA256)
			return nil
		},
	}
	publish.Flags().StringVar(&rel.Model, "model", "", "device model (required)")
	publish.Flags().StringVar(&rel.Version, "version", "", "firmware version (required)")
	publish.Flags().StringVar(&rel.MinVersion, "min-version", "", "anti-rollback: devices must already run at least this version")
	publish.Flags().StringVar(&rel.Notes, "notes", "", "release notes (at most 4 KiB)")
	publish.Flags().StringVar(&sbomFile, "sbom", "", "the release's SBOM (CycloneDX or SPDX JSON), imported for the audit")
	publish.MarkFlagRequired("model")
	publish.MarkFlagRequired("version")
	config.RegisterFlags(publish.Flags())
	config.RegisterClientFlags(publish.Flags())

	var model string
	list := &cobra.Command{
		Use: "list", Short: "List the published firmware, newest version first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			path := "/api/v1/firmware"
			if model != "" {
				path += "?" + url.Values{"model": {model}}.Encode()
			}
			var fws []update.Firmware
			if err := c.Get(cmd.Context(), path, &fws); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), fws)
			}
			rows := [][]string{}
			for _, fw := range fws {
				rows = append(rows, []string{fw.Model, fw.Version, orHyphen(fw.MinVersion), fw.File, strconv.FormatInt(fw.Length, 10), fw.SHA256[:12], fmtTime(fw.Published)})
			}
			return table(cmd.OutOrStdout(), []string{"MODEL", "VERSION", "MIN VERSION", "FILE", "BYTES", "SHA256", "PUBLISHED"}, rows)
		},
	}
	list.Flags().StringVar(&model, "model", "", "only this model")
	addClientFlags(list, true)

	show := &cobra.Command{
		Use: "show MODEL VERSION", Short: "Show one published firmware version", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var fw update.Firmware
			if err := c.Get(cmd.Context(), "/api/v1/firmware/"+pathEscape(args[0])+"/"+pathEscape(args[1]), &fw); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), fw)
			}
			rows := [][]string{{"model", fw.Model}, {"version", fw.Version}, {"min version", orHyphen(fw.MinVersion)},
				{"path", fw.Path}, {"bytes", strconv.FormatInt(fw.Length, 10)}, {"sha256", fw.SHA256}, {"sha512", fw.SHA512},
				{"published", fmtTime(fw.Published)}, {"notes", orHyphen(fw.Notes)}}
			return table(cmd.OutOrStdout(), []string{"FIELD", "VALUE"}, rows)
		},
	}
	addClientFlags(show, true)
	cmd.AddCommand(publish, list, show)
	return cmd
}

// importReleaseSBOM checks the SBOM locally and imports it for the
// release through the API (the path ward sbom import takes).
func importReleaseSBOM(cmd *cobra.Command, rel update.Release, file string) (store.SBOMRecord, error) {
	var rec store.SBOMRecord
	fi, err := os.Stat(file)
	if err != nil {
		return rec, fmt.Errorf("SBOM: %w", err)
	}
	if fi.Size() > compliance.MaxDocumentBytes {
		return rec, fmt.Errorf("SBOM %s: over %d bytes", file, compliance.MaxDocumentBytes)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return rec, fmt.Errorf("SBOM: %w", err)
	}
	if _, err := vuln.ParseSBOM(filepath.Base(file), bytes.NewReader(data), compliance.MaxDocumentBytes); err != nil {
		return rec, fmt.Errorf("SBOM %s: %w", file, err)
	}
	q := url.Values{"model": {rel.Model}, "firmware": {rel.Version}, "source": {filepath.Base(file)}}
	if err := uploadCmd(cmd, "/api/v1/sboms?"+q.Encode(), "application/json", data, &rec); err != nil {
		return rec, fmt.Errorf("import SBOM %s through the server (it needs --server and an operator token, WARD_TOKEN): %w", file, err)
	}
	return rec, nil
}

func orHyphen(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
