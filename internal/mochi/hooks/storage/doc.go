// Package storage defines the records a persistence hook stores (Ward's fork
// of mochi-mqtt; its storage backends were removed, Ward keeps sessions in
// memory).
package storage
