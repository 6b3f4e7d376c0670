package main

import (
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
)

// apiClient builds an API client from --server/--token/--ca or WARD_*.
func apiClient(cmd *cobra.Command) (*client.Client, error) {
	cc, err := config.LoadClient(cmd.Flags(), os.Environ(), true)
	if err != nil {
		return nil, err
	}
	return client.New(client.Options{Server: cc.Server, Token: string(cc.Token), CAFile: cc.CA})
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

// table writes rows under a header with aligned columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
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
