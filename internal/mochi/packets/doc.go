// Package packets encodes and decodes MQTT 3.1.1 and 5 control packets
// (Ward's fork of mochi-mqtt).
package packets
