package wardtest

import "os/exec"

func lookPath(n string) (string, error) { return exec.LookPath(n) }
