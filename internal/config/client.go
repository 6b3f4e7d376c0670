package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Client is the CLI's connection to a Ward server. Each setting comes from
// its flag (--server, --token, --ca), else its variable (WARD_SERVER,
// WARD_TOKEN, WARD_CA), else the context chosen with --context or the
// current context of the CLI configuration (ward login).
type Client struct {
	Server string // base URL, e.g. https://localhost:8443
	Token  Secret
	CA     string // PEM file to trust ("" = CAPEM, else the system roots)
	// CAPEM is the context's pinned CA, used when CA is empty.
	CAPEM []byte
	// Context names the saved context the settings came from ("" when
	// none did); Kind is its secret's kind (KindToken, KindSession).
	Context string
	Kind    string
}

// RegisterClientFlags adds --server, --token, --ca and --context to fs.
func RegisterClientFlags(fs *pflag.FlagSet) {
	fs.String("server", "", "Ward server URL (env WARD_SERVER; default: the current context of ward login), e.g. https://localhost:8443")
	fs.String("token", "", "API bearer token (env WARD_TOKEN; prefer ward login or the env: flags show in ps)")
	fs.String("ca", "", "CA certificate file to trust (env WARD_CA), e.g. ward-data/ca.pem")
	fs.String("context", "", "saved context to use instead of the current one (ward context list)")
}

// LoadClient reads the client settings with the CLI configuration file at
// ContextsPath; the token is not required for commands that do not call
// the API (needToken false).
func LoadClient(fs *pflag.FlagSet, environ []string, needToken bool) (Client, error) {
	return LoadClientFrom(fs, environ, needToken, func() (*Contexts, error) {
		path, err := ContextsPath()
		if err != nil {
			return nil, err
		}
		return ReadContexts(path)
	})
}

// LoadClientFrom is LoadClient with the saved contexts read by contexts
// (called only when a flag or variable leaves a setting open).
//
// Precedence, per setting: flag, then WARD_* variable, then the context.
// The context's token and CA are used only for the context's own server:
// a --server or WARD_SERVER naming another server never receives the
// context's token.
func LoadClientFrom(fs *pflag.FlagSet, environ []string, needToken bool, contexts func() (*Contexts, error)) (Client, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	pick := func(flag, envKey string) (string, string) {
		if fs != nil {
			if f := fs.Lookup(flag); f != nil && f.Changed {
				return f.Value.String(), "flag --" + flag
			}
		}
		return env[envKey], "env " + envKey
	}
	var c Client
	server, src := pick("server", "WARD_SERVER")
	tok, _ := pick("token", "WARD_TOKEN")
	c.Token = Secret(strings.TrimSpace(tok))
	c.CA, _ = pick("ca", "WARD_CA")
	wantCtx, _ := pick("context", "")

	var ctx *Context
	if wantCtx != "" || server == "" || c.Token == "" || c.CA == "" {
		all, err := contexts()
		if err != nil {
			if wantCtx != "" || server == "" {
				return c, err
			}
			all = &Contexts{} // flags and env suffice; a broken file is not needed
		}
		name := wantCtx
		if name == "" {
			name = all.Current
		}
		if name != "" {
			x, ok := all.Get(name)
			if !ok {
				return c, &Error{Key: "context", Source: "flag --context", Err: fmt.Errorf("no context named %q", name), Hint: "ward context list shows the saved ones"}
			}
			ctx = x
		}
	}
	if server == "" && ctx != nil {
		server, src = ctx.Server, "context "+ctx.Name
	}
	if server == "" {
		return c, &Error{Key: "server", Source: "flags/env", Err: errors.New("no server given"), Hint: "run ward login --server https://HOST:8443 --ca ward-data/ca.pem, or set WARD_SERVER or pass --server"}
	}
	var err error
	if c.Server, err = checkServer(server); err != nil {
		return c, &Error{Key: "server", Source: src, Err: err, Hint: "for example https://localhost:8443"}
	}
	if ctx != nil {
		if ctxServer, _ := checkServer(ctx.Server); ctxServer != c.Server {
			ctx = nil // another server: the context's secrets are not for it
		}
	}
	if ctx != nil {
		c.Context, c.Kind = ctx.Name, ctx.Kind
		if c.CA == "" {
			c.CAPEM = []byte(ctx.CAPEM)
		}
		if c.Token == "" {
			c.Token = ctx.Token
			if needToken && c.Token == "" {
				return c, &Error{Key: "token", Source: "context " + ctx.Name, Err: errors.New("logged out"), Hint: "run ward login again"}
			}
			if needToken && !ctx.ExpiresAt.IsZero() && !ctx.ExpiresAt.After(time.Now()) {
				return c, &Error{Key: "token", Source: "context " + ctx.Name, Err: fmt.Errorf("the %s expired at %s", ctx.Kind, ctx.ExpiresAt.Local().Format(time.RFC3339)), Hint: "run ward login again"}
			}
		}
	}
	if needToken && c.Token == "" {
		return c, &Error{Key: "token", Source: "flags/env", Err: errors.New("no API token given"), Hint: "run ward login, set WARD_TOKEN=$(cat ward-data/admin.token) or pass --token"}
	}
	return c, nil
}

// checkServer accepts an https:// URL with a host and returns it without
// trailing slashes.
func checkServer(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", errors.New("must be an https:// URL")
	}
	return strings.TrimRight(s, "/"), nil
}
