// Package devices loads the enrolled devices that the load clients use:
// a directory of device directories, DIR/<id>/device.pem and device.key
// (the `ward enroll --dir` layout that bench/estload -keep writes), each
// turned into a mutual-TLS client configuration that trusts Ward's CA.
package devices

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/wardproject/ward/internal/pki"
)

// Device is one enrolled device: its ID (the directory's name) and a TLS
// client configuration with its certificate.
type Device struct {
	ID  string
	TLS *tls.Config
}

// Load reads Ward's CA from caFile and the first n device directories of
// dir in name order; serverName is the name the clients verify.
func Load(caFile, dir string, n int, serverName string) ([]Device, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	slices.Sort(ids)
	if len(ids) < n {
		return nil, fmt.Errorf("%s holds %d device directories, %d are needed", dir, len(ids), n)
	}
	devs := make([]Device, 0, n)
	for _, id := range ids[:n] {
		d := filepath.Join(dir, id)
		crt, err := tls.LoadX509KeyPair(filepath.Join(d, "device.pem"), filepath.Join(d, "device.key"))
		if err != nil {
			return nil, fmt.Errorf("device %s: %w", id, err)
		}
		cfg := pki.ClientConfig(roots, &crt)
		cfg.ServerName = serverName
		devs = append(devs, Device{ID: id, TLS: cfg})
	}
	return devs, nil
}
