package config

import (
	"errors"
	"net/url"
	"strings"

	"github.com/spf13/pflag"
)

// Client is the CLI's connection to a Ward server: --server/--token/--ca or
// WARD_SERVER/WARD_TOKEN/WARD_CA (flags win).
type Client struct {
	Server string // base URL, e.g. https://localhost:8443
	Token  Secret
	CA     string // PEM file to trust ("" = system roots)
}

// RegisterClientFlags adds --server, --token and --ca to fs.
func RegisterClientFlags(fs *pflag.FlagSet) {
	fs.String("server", "", "Ward server URL (env WARD_SERVER), e.g. https://localhost:8443")
	fs.String("token", "", "API bearer token (env WARD_TOKEN; prefer the env: flags show in ps)")
	fs.String("ca", "", "CA certificate file to trust (env WARD_CA), e.g. ward-data/ca.pem")
}

// LoadClient reads the client settings; the token is not required for
// commands that do not call the API (needToken false).
func LoadClient(fs *pflag.FlagSet, environ []string, needToken bool) (Client, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	pick := func(flag, envKey string) (string, string) {
		if f := fs.Lookup(flag); f != nil && f.Changed {
			return f.Value.String(), "flag --" + flag
		}
		return env[envKey], "env " + envKey
	}
	var c Client
	var src string
	c.Server, src = pick("server", "WARD_SERVER")
	if c.Server == "" {
		return c, &Error{Key: "server", Source: "flags/env", Err: errors.New("no server given"), Hint: "set WARD_SERVER=https://HOST:8443 or pass --server"}
	}
	u, err := url.Parse(c.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return c, &Error{Key: "server", Source: src, Err: errors.New("must be an https:// URL"), Hint: "for example https://localhost:8443"}
	}
	c.Server = strings.TrimRight(c.Server, "/")
	tok, _ := pick("token", "WARD_TOKEN")
	c.Token = Secret(strings.TrimSpace(tok))
	if needToken && c.Token == "" {
		return c, &Error{Key: "token", Source: "flags/env", Err: errors.New("no API token given"), Hint: "set WARD_TOKEN=$(cat ward-data/admin.token) or pass --token"}
	}
	c.CA, _ = pick("ca", "WARD_CA")
	return c, nil
}
