package main

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/pki"
)

// apiClient builds an API client from the flags (--server, --token, --ca,
// --context), else WARD_SERVER/WARD_TOKEN/WARD_CA, else the current
// context saved by ward login.
func apiClient(cmd *cobra.Command) (*client.Client, error) {
	cc, err := config.LoadClient(cmd.Flags(), os.Environ(), true)
	if err != nil {
		return nil, err
	}
	return newClient(cc)
}

// newClient returns the API client of loaded settings.
func newClient(cc config.Client) (*client.Client, error) {
	roots, _, err := clientRoots(cc)
	if err != nil {
		return nil, err
	}
	return client.New(client.Options{Server: cc.Server, Token: string(cc.Token), Roots: roots})
}

// clientRoots returns the roots the server must chain to, with their PEM:
// the --ca/WARD_CA file, else the context's pinned CA, else the system
// roots (nil PEM).
func clientRoots(cc config.Client) (*x509.CertPool, []byte, error) {
	switch {
	case cc.CA != "":
		return pki.ReadRoots(cc.CA)
	case len(cc.CAPEM) > 0:
		certs, err := pki.ParseCertificatesPEM(cc.CAPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("context %s: its CA: %w", cc.Context, err)
		}
		pool := x509.NewCertPool()
		for _, c := range certs {
			pool.AddCert(c)
		}
		return pool, cc.CAPEM, nil
	}
	pool, err := x509.SystemCertPool()
	return pool, nil, err
}

// apiOutput returns the API client and the --output format of a command.
func apiOutput(cmd *cobra.Command) (*client.Client, string, error) {
	out, err := output(cmd)
	if err != nil {
		return nil, "", err
	}
	c, err := apiClient(cmd)
	return c, out, err
}

// addClientFlags adds the connection flags and --output to a command.
func addClientFlags(cmd *cobra.Command, withOutput bool) {
	config.RegisterClientFlags(cmd.Flags())
	if withOutput {
		cmd.Flags().StringP("output", "o", "table", "output format: table or json")
	}
}

// output is the chosen --output format.
func output(cmd *cobra.Command) (string, error) {
	o, _ := cmd.Flags().GetString("output")
	if o != "table" && o != "json" {
		return "", fmt.Errorf("--output must be table or json, not %q", o)
	}
	return o, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under a header (none when nil) with aligned columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if header != nil {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func pathEscape(s string) string { return url.PathEscape(s) }
