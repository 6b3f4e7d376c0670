package main

import (
	"testing"

	"github.com/spf13/cobra"
)

// TestCommandTree builds every command (flag clashes panic here) and checks
// that each has help text.
func TestCommandTree(t *testing.T) {
	root := newRootCmd()
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		n++
		if c.Short == "" {
			t.Errorf("command %q has no short help", c.CommandPath())
		}
		_ = c.Flags() // materialise
		c.InitDefaultHelpFlag()
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 15 {
		t.Errorf("only %d commands found", n)
	}
}
