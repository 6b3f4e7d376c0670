// Package mempool pools the byte buffers the broker encodes packets into
// (Ward's fork of mochi-mqtt).
package mempool
