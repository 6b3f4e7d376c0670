package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/wardproject/ward/internal/store"
)

// insertChunk bounds the rows of one multi-row INSERT (12 parameters a
// device: well under both databases' parameter limits).
const insertChunk = 500

// CreateDevices inserts devices and their enrollment tokens (see
// store.Devices.CreateDevices). It first looks for IDs that exist or
// repeat, so that the conflict names the device.
func CreateDevices(ctx context.Context, tx Tx, ds []store.Device, tokens []store.EnrollToken) error {
	if len(tokens) != len(ds) {
		return fmt.Errorf("create devices: %d devices but %d enrollment tokens", len(ds), len(tokens))
	}
	seen := make(map[string]bool, len(ds))
	for i, d := range ds {
		if seen[d.ID] {
			return fmt.Errorf("device %s is listed twice: %w", d.ID, store.ErrConflict)
		}
		seen[d.ID] = true
		if tokens[i].DeviceID != d.ID {
			return fmt.Errorf("create devices: token %d is for %s, not %s", i, tokens[i].DeviceID, d.ID)
		}
	}
	for lo := 0; lo < len(ds); lo += insertChunk {
		part := ds[lo:min(lo+insertChunk, len(ds))]
		ids := make([]any, len(part))
		for i, d := range part {
			ids[i] = d.ID
		}
		found, err := tx.Strings(ctx, `SELECT id FROM devices WHERE id IN (`+repeat("?", len(ids))+`) ORDER BY id LIMIT 1`, ids...)
		if err != nil {
			return fmt.Errorf("look for existing devices: %w", err)
		}
		if len(found) > 0 {
			return fmt.Errorf("device %s: %w", found[0], store.ErrConflict)
		}
	}
	for lo := 0; lo < len(ds); lo += insertChunk {
		part, toks := ds[lo:min(lo+insertChunk, len(ds))], tokens[lo:min(lo+insertChunk, len(ds))]
		args := make([]any, 0, len(part)*12)
		for _, d := range part {
			tags := []byte("[]")
			if len(d.Tags) > 0 {
				tags, _ = json.Marshal(d.Tags)
			}
			pol, _ := json.Marshal(d.Policy)
			args = append(args, d.ID, d.Model, d.Firmware, string(tags), string(d.Status), string(d.Quarantine), string(pol),
				nanos(d.CreatedAt), nanos(d.UpdatedAt), nanos(d.LastSeen), nanos(d.RevokedAt), nanos(d.ReenrolledAt))
		}
		row := "(?, ?, ?, " + tx.JSON() + ", ?, ?, " + tx.JSON() + ", ?, ?, ?, ?, ?)"
		if _, err := tx.Exec(ctx, `INSERT INTO devices(`+DeviceCols+`) VALUES `+repeat(row, len(part)), args...); err != nil {
			return fmt.Errorf("insert %d devices: %w", len(part), err)
		}
		args = args[:0]
		for _, d := range part {
			seen := map[string]bool{}
			for _, t := range d.Tags {
				if !seen[t] {
					seen[t] = true
					args = append(args, d.ID, t)
				}
			}
		}
		for lo := 0; lo < len(args); lo += 2 * insertChunk {
			tags := args[lo:min(lo+2*insertChunk, len(args))]
			if _, err := tx.Exec(ctx, `INSERT INTO device_tags(device_id, tag) VALUES `+repeat("(?, ?)", len(tags)/2), tags...); err != nil {
				return fmt.Errorf("insert the tags of %d devices: %w", len(part), err)
			}
		}
		args = args[:0]
		for _, t := range toks {
			args = append(args, t.DeviceID, t.Hash, nanos(t.CreatedAt), nanos(t.ExpiresAt))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO enroll_tokens(device_id, hash, created_at, expires_at, used_at)
			VALUES `+repeat("(?, ?, ?, ?, 0)", len(toks)), args...); err != nil {
			return fmt.Errorf("insert %d enrollment tokens: %w", len(toks), err)
		}
	}
	return nil
}

// repeat joins n copies of s with commas.
func repeat(s string, n int) string {
	return strings.TrimSuffix(strings.Repeat(s+", ", n), ", ")
}

// DeleteDevice deletes a never-enrolled device (see
// store.Devices.DeleteDevice). The device row is locked first, as
// Enroll locks it, so the certificate check and an enrollment's insert
// of the first certificate cannot interleave.
func DeleteDevice(ctx context.Context, tx Tx, id string) error {
	if _, err := lockDevice(ctx, tx, id, 0); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM certificates WHERE device_id = ?`, id).Scan(&n); err != nil {
		return fmt.Errorf("count the certificates of device %s: %w", id, err)
	}
	if n > 0 {
		return fmt.Errorf("device %s: %w", id, store.ErrEnrolled)
	}
	for _, q := range []string{`DELETE FROM enroll_tokens WHERE device_id = ?`, `DELETE FROM events WHERE device_id = ?`,
		`DELETE FROM device_tags WHERE device_id = ?`, `DELETE FROM devices WHERE id = ?`} {
		if _, err := tx.Exec(ctx, q, id); err != nil {
			return fmt.Errorf("delete device %s: %w", id, err)
		}
	}
	return nil
}

// UpdateModelPolicy applies fn to a model's policy under the row's lock
// (see store.Devices.UpdateModelPolicy). The row is created first when
// missing, so that two first updates of a model lock the same row.
func UpdateModelPolicy(ctx context.Context, tx Tx, model string, fn func(*store.Policy) error) (store.ModelPolicy, error) {
	mp := store.ModelPolicy{Model: model}
	if _, err := tx.Exec(ctx, `INSERT INTO model_policies(model, policy) VALUES(?, `+tx.JSON()+`) ON CONFLICT(model) DO NOTHING`, model, "{}"); err != nil {
		return mp, fmt.Errorf("policy of model %s: %w", model, err)
	}
	var raw string
	if err := tx.QueryRow(ctx, `SELECT CAST(policy AS TEXT) FROM model_policies WHERE model = ?`+tx.ForUpdate(), model).Scan(&raw); err != nil {
		return mp, fmt.Errorf("read the policy of model %s: %w", model, err)
	}
	if err := json.Unmarshal([]byte(raw), &mp.Policy); err != nil {
		return mp, fmt.Errorf("policy of model %s: %w", model, err)
	}
	if err := fn(&mp.Policy); err != nil {
		return mp, err
	}
	pol, _ := json.Marshal(mp.Policy)
	if _, err := tx.Exec(ctx, `UPDATE model_policies SET policy = `+tx.JSON()+` WHERE model = ?`, string(pol), model); err != nil {
		return mp, fmt.Errorf("store the policy of model %s: %w", model, err)
	}
	return mp, nil
}
