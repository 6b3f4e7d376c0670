package update

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// File names of the layout (see the package doc).
const (
	rootFile      = "root.json"
	timestampFile = "timestamp.json"
	targetsDir    = "targets"
	modelsPrefix  = "models/"
)

var (
	modelRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	versionRe = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)
	fileRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)
)

// versionedName returns the consistent-snapshot file name of role at
// version: <version>.<escaped role>.json. Role names are escaped with
// url.PathEscape, as go-tuf's updater does when it builds the URL.
func versionedName(role string, version int64) string {
	return strconv.FormatInt(version, 10) + "." + url.PathEscape(role) + ".json"
}

// parseVersionedName is versionedName's inverse: "3.models%2Facme.json" is
// version 3 of models/acme. An unversioned name (root.json) has version 0.
func parseVersionedName(name string) (role string, version int64, err error) {
	base, ok := strings.CutSuffix(name, ".json")
	if !ok || base == "" {
		return "", 0, fmt.Errorf("%q is not a TUF metadata file name (<version>.<role>.json or <role>.json)", name)
	}
	if v, rest, ok := strings.Cut(base, "."); ok && v != "" && strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return "", 0, fmt.Errorf("%q: bad version %q", name, v)
		}
		version, base = n, rest
	}
	role, err = url.PathUnescape(base)
	if err != nil {
		return "", 0, fmt.Errorf("%q: bad role name: %w", name, err)
	}
	if err := CheckRole(role); err != nil {
		return "", 0, fmt.Errorf("%q: %w", name, err)
	}
	return role, version, nil
}

// CheckRole accepts the four top-level roles and models/<model>.
func CheckRole(role string) error {
	switch role {
	case "root", "targets", "snapshot", "timestamp":
		return nil
	}
	if m, ok := strings.CutPrefix(role, modelsPrefix); ok {
		return CheckModel(m)
	}
	return fmt.Errorf("unknown TUF role %q (root, targets, snapshot, timestamp or models/<model>)", role)
}

// CheckModel accepts a model name usable in target paths and role names:
// 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.
func CheckModel(model string) error {
	if !modelRe.MatchString(model) {
		return fmt.Errorf("model %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", model)
	}
	return nil
}

// ModelRole returns the delegated role that signs model's firmware.
func ModelRole(model string) string { return modelsPrefix + model }

// TargetPath returns a firmware's target path: <model>/<version>/<file>.
func TargetPath(model, version, file string) (string, error) {
	if err := CheckModel(model); err != nil {
		return "", err
	}
	if !versionRe.MatchString(version) {
		return "", fmt.Errorf("version %q: use 1-64 letters, digits, '.', '+', '_' or '-', starting with a letter or digit", version)
	}
	if !fileRe.MatchString(file) {
		return "", fmt.Errorf("file name %q: use 1-128 letters, digits, '.', '_', '+' or '-', starting with a letter or digit", file)
	}
	return model + "/" + version + "/" + file, nil
}

// modelPaths are the path patterns of a model's delegation.
func modelPaths(model string) []string { return []string{model + "/*/*"} }

var errBadTargetPath = errors.New("bad target path")

// storedNames returns the consistent-snapshot names of a target's bytes
// under targets/: <dir>/<hash>.<base> for each hash.
func storedNames(targetPath string, hexHashes ...string) ([]string, error) {
	i := strings.LastIndexByte(targetPath, '/')
	if i <= 0 || i == len(targetPath)-1 {
		return nil, fmt.Errorf("%w %q", errBadTargetPath, targetPath)
	}
	dir, base := targetPath[:i], targetPath[i+1:]
	out := make([]string, 0, len(hexHashes))
	for _, h := range hexHashes {
		out = append(out, dir+"/"+h+"."+base)
	}
	return out, nil
}
