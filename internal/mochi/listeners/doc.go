// Package listeners holds the broker's listener interface and the TCP and
// mock listeners (Ward's fork of mochi-mqtt; Ward's gateway brings its own
// TLS listener).
package listeners
