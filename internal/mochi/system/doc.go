// Package system holds the broker's $SYS counters (Ward's fork of mochi-
// mqtt).
package system
