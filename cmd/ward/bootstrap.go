package main

import (
	"crypto/tls"
	"net/http"
	"time"
)

// bootstrapHTTP is the one HTTP client that does not verify the server: it
// is used only to fetch /cacerts, whose answer is then pinned against the
// operator-supplied fingerprint before anything else is sent.
func bootstrapHTTP() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}, // #nosec: pinned by fingerprint
	}}
}
