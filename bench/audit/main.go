// Command audit measures a full fleet audit against the store: it
// generates a fleet of -devices devices (default 1,000,000), each with its
// own certificate, in an SQLite store, then times compliance.Service.Run
// (snapshot from the store, every check, findings recorded) and reports
// the peak memory.
//
//	go run ./bench/audit [-devices 1000000]
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/compliance"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store/sqlite"
)

func main() {
	n := flag.Int("devices", 1_000_000, "devices in the generated fleet")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "audit bench:", err)
		os.Exit(1)
	}
}

func run(n int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ward-audit-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ward.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	ca, err := pki.Open(ctx, pki.Options{Dir: filepath.Join(dir, "ca"), Store: db, Passphrase: []byte("bench")})
	if err != nil {
		return err
	}
	// A real device certificate is the template; each device's copy gets
	// its own public key bytes and serial (the audit reads keys and
	// serials, it does not verify signatures).
	key, _ := est.NewDeviceKey()
	csrDER, _ := est.NewCSR("template", key)
	csr, _ := pki.ParseCSR(csrDER)
	tmpl, err := ca.SignDevice(ctx, "template", csr)
	if err != nil {
		return err
	}
	off := bytes.Index(tmpl.Raw, tmpl.RawSubjectPublicKeyInfo) + len(tmpl.RawSubjectPublicKeyInfo) - 8

	began := time.Now()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer raw.Close()
	tx, err := raw.Begin()
	if err != nil {
		return err
	}
	dev, _ := tx.Prepare(`INSERT INTO devices(id, model, firmware, tags, status, policy, created_at, updated_at, last_seen) VALUES(?,?,?,'[]','active','{}',?,?,?)`)
	crt, _ := tx.Prepare(`INSERT INTO certificates(serial, device_id, subject, kind, not_before, not_after, fingerprint, der, issued_at) VALUES(?,?,?,?,?,?,?,?,?)`)
	now := time.Now()
	models := []string{"acme-th1", "acme-cam2", "acme-meter3"}
	der := make([]byte, len(tmpl.Raw))
	for i := range n {
		id := fmt.Sprintf("d-%07d", i)
		seen := now.Add(-time.Hour)
		if i%97 == 0 {
			seen = now.Add(-40 * 24 * time.Hour) // not seen for 40 days
		}
		fw := "2.9"
		if i%50 == 0 {
			fw = "2.0"
		}
		if _, err := dev.Exec(id, models[i%3], fw, now.Add(-300*24*time.Hour).UnixNano(), now.UnixNano(), seen.UnixNano()); err != nil {
			return err
		}
		copy(der, tmpl.Raw)
		der[off], der[off+1], der[off+2], der[off+3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		sum := sha256.Sum256(der)
		notAfter := tmpl.NotAfter
		if i%113 == 0 {
			notAfter = now.Add(10 * 24 * time.Hour) // expiring soon
		}
		serial := fmt.Sprintf("%032x", i+1)
		if _, err := crt.Exec(serial, id, "CN="+id, "device", tmpl.NotBefore.UnixNano(), notAfter.UnixNano(), hex.EncodeToString(sum[:]), der, now.UnixNano()); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	fmt.Printf("generated %d devices with their certificates in %s\n", n, time.Since(began).Round(time.Millisecond))

	svc, err := compliance.New(ctx, compliance.Options{Store: db, CA: ca, Server: audit.ServerFacts{MinTLSVersion: 0x0303,
		AuditLogEnabled: true, EventLogEnabled: true, CAKeyEncrypted: true, MaxMessageBytes: 262144, ConnectsPerMin: 30,
		TokenTTL: 24 * time.Hour, DeviceCertMaxAge: 90 * 24 * time.Hour}})
	if err != nil {
		return err
	}
	for _, m := range models {
		svc.SetModel(ctx, audit.Model{Name: m, SupportEnds: now.AddDate(5, 0, 0), LatestFirmware: "2.9", LatestFirmwareReleased: now.AddDate(0, -8, 0)})
	}
	runtime.GC()
	for run := 1; run <= 2; run++ {
		began = time.Now()
		fs, err := svc.Run(ctx)
		if err != nil {
			return err
		}
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("audit run %d: %d devices, %d findings in %s; peak RSS %d MB, heap in use %d MB\n",
			run, n, len(fs), time.Since(began).Round(time.Millisecond), ru.Maxrss/1024, ms.HeapInuse>>20)
	}
	return nil
}
