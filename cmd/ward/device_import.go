package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/fleet"
)

func newDeviceDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a device that never enrolled (a registration made by mistake), with its pending token",
		Long: `Deletes a device that never held a certificate, with its pending enrollment
token and its events; the audit log records the deletion. A device that has
enrolled is refused: it has a history to keep, so retire it instead
(ward device retire ID).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "DELETE", "/api/v1/devices/"+pathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": args[0], "deleted": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "device %s deleted\n", args[0])
			return nil
		},
	}
	addClientFlags(cmd, true)
	return cmd
}

// importSummary is what ward device import -o json prints.
type importSummary struct {
	Imported  int    `json:"imported"`
	TokensOut string `json:"tokens_out"`
}

func newDeviceImportCmd() *cobra.Command {
	var tokensOut string
	var batch int
	cmd := &cobra.Command{
		Use:   "import FILE.csv [--tokens-out FILE]",
		Short: "Register devices from a factory line's CSV file and write their enrollment tokens",
		Long: `Registers every device of a CSV file: a header row id,model,firmware,tags
(and optionally token_ttl), then one device per row; tags are separated by
';' or '|', token_ttl is a duration like 72h (empty: the server's default).

The whole file is checked first: every bad line is reported with its number
and nothing is imported. Then the devices are registered in batches of at
most 10,000, each batch all or nothing. The one-time enrollment tokens go to
--tokens-out (created 0600, refused if it exists; CSV id,token,expires_at),
or to standard output with a warning. They are never logged.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 1 || batch > fleet.MaxImport {
				return fmt.Errorf("--batch must be 1 to %d", fleet.MaxImport)
			}
			// The file first: a bad file is reported before any server is
			// needed.
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			rows, err := fleet.ParseDeviceCSV(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w; nothing was imported", args[0], err)
			}
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			var tf *os.File
			if tokensOut != "" {
				tf, err = os.OpenFile(tokensOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if errors.Is(err, os.ErrExist) {
					return fmt.Errorf("%s exists: choose another --tokens-out file (it would hold one-time tokens; nothing was imported)", tokensOut)
				}
				if err != nil {
					return fmt.Errorf("tokens file: %w (nothing was imported)", err)
				}
				defer tf.Close()
				w = tf
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: the enrollment tokens are written to standard output; use --tokens-out FILE to keep them out of terminals and logs")
				if out == "json" {
					return errors.New("-o json prints a summary: give --tokens-out FILE for the tokens")
				}
			}
			cw := csv.NewWriter(w)
			cw.Write([]string{"id", "token", "expires_at"})
			done := 0
			for lo := 0; lo < len(rows); lo += batch {
				part := rows[lo:min(lo+batch, len(rows))]
				req := api.ImportDevicesRequest{Devices: make([]api.AddDeviceRequest, len(part))}
				for i, r := range part {
					req.Devices[i] = api.AddDeviceRequest{ID: r.ID, Model: r.Model, Firmware: r.Firmware, Tags: r.Tags}
					if r.TokenTTL > 0 {
						req.Devices[i].TokenTTL = r.TokenTTL.String()
					}
				}
				var res api.ImportDevicesResponse
				if err := c.Post(cmd.Context(), "/api/v1/devices/import", req, &res); err != nil {
					cw.Flush()
					if done > 0 {
						return fmt.Errorf("lines %d-%d: %w; the %d devices before line %d were imported and their tokens written", part[0].Line, part[len(part)-1].Line, err, done, part[0].Line)
					}
					return fmt.Errorf("%w; nothing was imported", err)
				}
				for _, d := range res.Devices {
					cw.Write([]string{d.ID, d.Token, d.TokenExpiresAt.UTC().Format(time.RFC3339)})
				}
				cw.Flush()
				if err := cw.Error(); err != nil {
					return fmt.Errorf("write the tokens of %d imported devices: %w", len(res.Devices), err)
				}
				done += res.Imported
			}
			if tf != nil {
				if err := tf.Sync(); err != nil {
					return fmt.Errorf("tokens file: %w", err)
				}
				if out == "json" {
					return printJSON(cmd.OutOrStdout(), importSummary{Imported: done, TokensOut: tokensOut})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "imported %d devices from %s; enrollment tokens in %s (mode 0600: hand it to the factory line, then delete it)\n", done, args[0], tokensOut)
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "imported %d devices from %s\n", done, args[0])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tokensOut, "tokens-out", "", "file for the enrollment tokens (created 0600; default: standard output, with a warning)")
	cmd.Flags().IntVar(&batch, "batch", fleet.MaxImport, "devices per request (each request is all or nothing)")
	addClientFlags(cmd, true)
	return cmd
}
