package detect

import (
	"encoding/json"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/wardproject/ward/internal/store"
)

// The stored metric windows are Datapoints as JSON (the API returns them
// as they are). The detect leader encodes one per active device and
// window: appendDatapointJSON writes exactly what json.Marshal writes
// (TestDatapointJSONIsMarshal holds it to that), without reflection and
// with one allocation per datapoint, and metricWindows spreads the
// datapoints over the CPUs.

// appendDatapointJSON appends json.Marshal(dp) to b. Values that
// json.Marshal rejects (NaN, infinities) and strings it would escape are
// left to json.Marshal itself, so that the output is always its output.
func appendDatapointJSON(b []byte, dp *Datapoint) ([]byte, error) {
	if !plainDatapoint(dp) {
		j, err := json.Marshal(dp)
		return append(b, j...), err
	}
	b = append(b, `{"device":"`...)
	b = append(b, dp.Device...)
	b = append(b, `","window_ns":`...)
	b = strconv.AppendInt(b, int64(dp.Window), 10)
	b = append(b, `,"start":`...)
	b, err := appendJSONTime(b, dp.Start)
	if err != nil {
		return b, err
	}
	b = append(b, `,"end":`...)
	if b, err = appendJSONTime(b, dp.End); err != nil {
		return b, err
	}
	b = append(b, `,"values":`...)
	if dp.Values == nil {
		b = append(b, "null"...)
	} else {
		var buf [64]string
		keys := sortedKeys(dp.Values, buf[:0])
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, k...)
			b = append(b, `":`...)
			b = appendJSONFloat(b, dp.Values[k])
		}
		b = append(b, '}')
	}
	if len(dp.Sets) > 0 {
		var buf [16]string
		keys := sortedKeys(dp.Sets, buf[:0])
		b = append(b, `,"sets":{`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, k...)
			b = append(b, `":`...)
			vs := dp.Sets[k]
			if vs == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, '[')
			for j, v := range vs {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, '"')
				b = append(b, v...)
				b = append(b, '"')
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// sortedKeys appends m's keys to buf, sorted, as encoding/json orders
// them.
func sortedKeys[V any](m map[string]V, buf []string) []string {
	for k := range m {
		buf = append(buf, k)
	}
	slices.Sort(buf)
	return buf
}

// plainDatapoint reports whether every string of dp is written by
// json.Marshal as it is and every value is finite.
func plainDatapoint(dp *Datapoint) bool {
	if !plainString(dp.Device) {
		return false
	}
	for k, v := range dp.Values {
		if !plainString(k) || math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	for k, vs := range dp.Sets {
		if !plainString(k) {
			return false
		}
		for _, v := range vs {
			if !plainString(v) {
				return false
			}
		}
	}
	return true
}

// plainString: printable ASCII that encoding/json does not escape (it
// escapes '"', '\\' and, for HTML, '<', '>' and '&').
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// appendJSONTime appends t as time.Time's MarshalJSON writes it.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if _, off := t.Zone(); off != 0 || t.Year() < 0 || t.Year() > 9999 {
		j, err := t.MarshalJSON()
		return append(b, j...), err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// appendJSONFloat appends a finite float64 as encoding/json writes it.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// metricWindows encodes the closed datapoints as stored metric windows,
// spread over the CPUs. A datapoint that cannot be encoded (a value
// json.Marshal rejects) is left out and counted in bad.
func metricWindows(dps []Datapoint) (out []store.MetricWindow, bad int) {
	out = make([]store.MetricWindow, len(dps))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(dps)/1024))
	var wg sync.WaitGroup
	var mu sync.Mutex
	chunk := (len(dps) + workers - 1) / max(workers, 1)
	for lo := 0; lo < len(dps); lo += chunk {
		hi := min(lo+chunk, len(dps))
		wg.Go(func() {
			failed := 0
			for i := lo; i < hi; i++ {
				dp := &dps[i]
				b, err := appendDatapointJSON(make([]byte, 0, 1024), dp)
				if err != nil {
					failed++
					continue
				}
				out[i] = store.MetricWindow{DeviceID: dp.Device, Window: dp.Window, Start: dp.Start, JSON: b}
			}
			mu.Lock()
			bad += failed
			mu.Unlock()
		})
	}
	wg.Wait()
	if bad > 0 {
		out = slices.DeleteFunc(out, func(w store.MetricWindow) bool { return w.JSON == nil })
	}
	return out, bad
}
