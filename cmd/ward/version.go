package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/buildinfo"
)

func newVersionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print this ward binary's version, source revision and Go toolchain",
		Long: `Print this binary's version, the source revision it was built from and the Go toolchain.
A server's version is in GET /api/v1/info ("build"); Ward's HTTP clients send
User-Agent ward/<version>.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := output(cmd)
			if err != nil {
				return err
			}
			in := buildinfo.Read()
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), in)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), "ward", in)
			return err
		},
	}
	cmd.Flags().StringP("output", "o", "table", "output format: table or json")
	return cmd
}
