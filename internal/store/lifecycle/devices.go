package lifecycle

// The device listing's SQL (store.Devices.QueryDevices) and the
// device_tags rows that serve its tag filter, written once for both
// backends.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/wardproject/ward/internal/store"
)

// DeviceCols are the devices table's columns, in the order both
// backends' device scanners read them.
const DeviceCols = `id, model, firmware, tags, status, quarantine, policy, created_at, updated_at, last_seen, revoked_at, reenrolled_at`

// SetTags replaces the device's rows in device_tags (one per distinct
// tag) in tx: call it in the transaction that writes the device's tags
// column, which stays the record the device is read from.
func SetTags(ctx context.Context, tx Tx, id string, tags []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM device_tags WHERE device_id = ?`, id); err != nil {
		return fmt.Errorf("device %s tags: %w", id, err)
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if seen[t] {
			continue
		}
		seen[t] = true
		if _, err := tx.Exec(ctx, `INSERT INTO device_tags(device_id, tag) VALUES(?, ?)`, id, t); err != nil {
			return fmt.Errorf("device %s tag %q: %w", id, t, err)
		}
	}
	return nil
}

// DevicesQuery builds the SELECT of store.Devices.QueryDevices for q
// (checked with q.Check), with ? placeholders: its rows scan with the
// backend's device scanner, ordered by ID, at most q.Limit+1 of them (0:
// store.MaxDeviceQueryLimit) so that the caller knows whether a next
// page exists (see Page). upTo, when not empty, ends the walk at that ID
// (the end of a text search's window, from ScanWindowQuery).
//
// A tag filter drives the query from device_tags' (tag, device_id) key;
// otherwise it walks devices by ID, or by the (status, id) or (model, id)
// index when the planner prefers it. The text search is a filter on the
// walked rows (see store.DeviceQuery).
func DevicesQuery(q store.DeviceQuery, upTo string) (string, []any) {
	if q.Limit <= 0 {
		q.Limit = store.MaxDeviceQueryLimit
	}
	from, key, where, args := indexed(q)
	var sql strings.Builder
	sql.WriteString(`SELECT ` + prefixCols("d.", DeviceCols) + from + where)
	if upTo != "" {
		sql.WriteString(` AND ` + key + ` <= ?`)
		args = append(args, upTo)
	}
	if q.Text != "" {
		p := LikeContains(q.Text)
		sql.WriteString(` AND (LOWER(d.id) LIKE ? ESCAPE '\' OR LOWER(d.model) LIKE ? ESCAPE '\' OR `)
		if tagsTextSafe(q.Text) {
			// The tags column's JSON text holds each tag as written:
			// matching it costs a string compare per row, where the
			// device_tags lookup below costs an index search.
			sql.WriteString(`LOWER(CAST(d.tags AS TEXT)) LIKE ? ESCAPE '\')`)
		} else {
			sql.WriteString(`EXISTS (SELECT 1 FROM device_tags x WHERE x.device_id = d.id AND LOWER(x.tag) LIKE ? ESCAPE '\'))`)
		}
		args = append(args, p, p, p)
	}
	sql.WriteString(` ORDER BY ` + key + ` LIMIT ?`)
	args = append(args, q.Limit+1)
	return sql.String(), args
}

// ScanWindowQuery builds the query that bounds a text search (q.Text set):
// one row of the number of devices the other filters select after
// q.After, at most q.Scan (0: store.DefaultDeviceScan), and the last of
// their IDs ("" when none), read from the indexes alone. When the number
// is q.Scan, pass the ID to DevicesQuery and Page as the window's end.
func ScanWindowQuery(q store.DeviceQuery) (string, []any) {
	if q.Scan <= 0 {
		q.Scan = store.DefaultDeviceScan
	}
	from, key, where, args := indexed(q)
	return `SELECT COUNT(*), COALESCE(MAX(w.k), '') FROM (SELECT ` + key + ` AS k` + from + where +
		` ORDER BY ` + key + ` LIMIT ?) w`, append(args, q.Scan)
}

// WindowEnd runs ScanWindowQuery through queryRow (a backend's single-row
// query, ? placeholders) and returns the end of q's search window when
// the window is full, "" when q has no text or the window is not full.
func WindowEnd(q store.DeviceQuery, queryRow func(sql string, args ...any) interface{ Scan(dest ...any) error }) (string, error) {
	if q.Text == "" {
		return "", nil
	}
	ws, wargs := ScanWindowQuery(q)
	var n int
	var last string
	if err := queryRow(ws, wargs...).Scan(&n, &last); err != nil {
		return "", fmt.Errorf("query devices: search window: %w", err)
	}
	if n < cmp.Or(q.Scan, store.DefaultDeviceScan) {
		return "", nil
	}
	return last, nil
}

// indexed renders the FROM and WHERE clauses of q's index-served filters
// (all but Text), and the key the walk is ordered by.
func indexed(q store.DeviceQuery) (from, key, where string, args []any) {
	var w strings.Builder
	key = "d.id"
	if q.Tag != "" {
		key = "t.device_id"
		from = ` FROM device_tags t JOIN devices d ON d.id = t.device_id`
		w.WriteString(` WHERE t.tag = ?`)
		args = append(args, q.Tag)
	} else {
		from = ` FROM devices d`
		w.WriteString(` WHERE 1=1`)
	}
	if q.After != "" {
		w.WriteString(` AND ` + key + ` > ?`)
		args = append(args, q.After)
	}
	if q.Status != "" {
		w.WriteString(` AND d.status = ?`)
		args = append(args, string(q.Status))
	}
	if q.Model != "" {
		w.WriteString(` AND d.model = ?`)
		args = append(args, q.Model)
	}
	if q.IDs != nil {
		if len(q.IDs) == 0 {
			w.WriteString(` AND 1=0`)
		} else {
			ph, a := Placeholders(q.IDs)
			w.WriteString(` AND d.id IN (` + ph + `)`)
			args = append(args, a...)
		}
	}
	return from, key, w.String(), args
}

// Page cuts the rows DevicesQuery returned to the page size and returns
// the next page's cursor: the last device's ID when there were more rows
// than limit (0: store.MaxDeviceQueryLimit); otherwise windowEnd, the end
// of a text search's window that was read whole ("" when there was no
// window or the filters ran out of devices before it ended).
func Page(devs []store.Device, limit int, windowEnd string) ([]store.Device, string) {
	if limit <= 0 {
		limit = store.MaxDeviceQueryLimit
	}
	if len(devs) <= limit {
		return devs, windowEnd
	}
	devs = slices.Clip(devs[:limit])
	return devs, devs[limit-1].ID
}

// LikeContains is the LIKE pattern (with ESCAPE '\') that matches a text
// containing s, lower-cased in ASCII as both databases' LOWER() does
// without an ICU or locale collation.
func LikeContains(s string) string {
	var b strings.Builder
	b.WriteByte('%')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' || c == '_' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('%')
	return b.String()
}

// tagsTextSafe reports whether a search text matches a tag exactly when
// it matches the JSON text of the tags column (["a","b"] in SQLite,
// ["a", "b"] in PostgreSQL): printable ASCII that JSON writes as is
// (Go's encoder escapes <, > and &) and that is none of the array's own
// characters (quotes, brackets, comma, space, backslash).
func tagsTextSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"\[],<>&`, c) >= 0 {
			return false
		}
	}
	return true
}

// SoonestExpiryQuery is the SELECT of
// store.Certificates.SoonestExpiryByModel, with now as its one parameter:
// rows of (model, soonest not_after in unix nanoseconds).
const SoonestExpiryQuery = `SELECT d.model, MIN(c.not_after) FROM certificates c JOIN devices d ON d.id = c.device_id
	WHERE c.kind = 'device' AND c.revoked_at = 0 AND c.superseded_at = 0 AND c.not_after > ?
	GROUP BY d.model ORDER BY d.model`

// ParseTags reads a device's stored tags (a JSON list; none is nil).
func ParseTags(id string, b []byte) ([]string, error) {
	if s := string(b); s == "[]" || s == "null" || s == "" {
		return nil, nil
	}
	var tags []string
	if err := json.Unmarshal(b, &tags); err != nil {
		return nil, fmt.Errorf("device %s tags: %w", id, err)
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return tags, nil
}
