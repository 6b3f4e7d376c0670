// Package auth holds AllowHook, a hook that admits every client and topic:
// for tests only (Ward's fork of mochi-mqtt; the ledger hook was removed).
package auth
