package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Retry is the download retry policy. Zero fields take the defaults.
type Retry struct {
	Attempts int           // requests per download, in all (default 6)
	Base     time.Duration // first backoff (default 1s), doubled each retry
	Max      time.Duration // longest backoff, and longest Retry-After honoured (default 2m)
	// Idle is how long a download may go without receiving a byte before
	// it counts as cut (default 1m).
	Idle time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 6
	}
	if r.Base <= 0 {
		r.Base = time.Second
	}
	if r.Max <= 0 {
		r.Max = 2 * time.Minute
	}
	if r.Idle <= 0 {
		r.Idle = time.Minute
	}
	return r
}

// backoff returns the wait before retry n (1-based): full jitter over
// Base·2^(n-1), capped at Max.
func (r Retry) backoff(n int) time.Duration {
	d := r.Base << min(n-1, 30)
	if d <= 0 || d > r.Max {
		d = r.Max
	}
	j, err := rand.Int(rand.Reader, big.NewInt(int64(d)/2+1))
	if err != nil {
		return d
	}
	return d/2 + time.Duration(j.Int64()) // in [d/2, d]
}

// Sleeper waits d or until ctx ends. Tests inject one that records the
// waits instead of sleeping.
type Sleeper func(ctx context.Context, d time.Duration) error

// SleepContext is the real Sleeper.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// httpStatusError is a refusal by the server; retryable or not decides
// whether the download is tried again.
type httpStatusError struct {
	status     int
	url        string
	retryAfter time.Duration // from Retry-After on 429/503, 0 if absent
}

func (e *httpStatusError) Error() string {
	switch {
	case e.status == http.StatusNotFound:
		return fmt.Sprintf("the server has no such file (404 at %s): not retried", e.url)
	case e.status == http.StatusTooManyRequests:
		return fmt.Sprintf("the server is rate limiting downloads (429 at %s)", e.url)
	case e.status >= 400 && e.status < 500:
		return fmt.Sprintf("the server refused the download (%d %s at %s): not retried", e.status, http.StatusText(e.status), e.url)
	}
	return fmt.Sprintf("the server failed (%d %s at %s)", e.status, http.StatusText(e.status), e.url)
}

// permanentError is a download failure that no retry can fix (a 4xx,
// bytes that do not match the signed hashes, more bytes than signed).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// ErrTooLong is a server sending more bytes than the metadata signs
// (the endless-data attack).
var ErrTooLong = errors.New("the server sent more bytes than the signed length")

// ErrHashMismatch is a downloaded file whose hash differs from the signed one.
var ErrHashMismatch = errors.New("the downloaded bytes do not match the signed hash")

// downloader streams one target to a file, resuming after a cut.
type downloader struct {
	http  *http.Client
	retry Retry
	sleep Sleeper
	// requests and bytes count what the server was asked for and sent,
	// for the log and tests.
	requests, received int64
}

// fetch downloads url into part (created or resumed) until it holds
// tf.Length bytes whose sha256 (and sha512 when listed) match tf, then
// returns nil. On any permanent failure part is removed.
func (d *downloader) fetch(ctx context.Context, url string, tf *metadata.TargetFiles, part string) error {
	var validator string // ETag or Last-Modified of the first answer, for If-Range
	var last error
	for attempt := 1; attempt <= d.retry.Attempts; attempt++ {
		if attempt > 1 {
			wait := d.retry.backoff(attempt - 1)
			var se *httpStatusError
			if errors.As(last, &se) && se.retryAfter > 0 {
				// 429/503 Retry-After is honoured when it fits the budget
				// (Retry.Max); a longer one ends the download now.
				if se.retryAfter > d.retry.Max {
					return fmt.Errorf("%w; it asks to wait %s, more than the %s this agent waits: not retried", last, se.retryAfter, d.retry.Max)
				}
				wait = se.retryAfter
			}
			if err := d.sleep(ctx, wait); err != nil {
				return fmt.Errorf("download interrupted: %w (last error: %v)", err, last)
			}
		}
		err := d.attempt(ctx, url, tf, part, &validator)
		if err == nil {
			return nil
		}
		var pe *permanentError
		if errors.As(err, &pe) || ctx.Err() != nil {
			return err
		}
		last = err
	}
	return fmt.Errorf("download failed after %d attempts: %w", d.retry.Attempts, last)
}

// attempt makes one request, resuming from what part holds.
func (d *downloader) attempt(ctx context.Context, url string, tf *metadata.TargetFiles, part string, validator *string) error {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return &permanentError{fmt.Errorf("open download file: %w", err)}
	}
	defer f.Close()
	hs := newTargetHashes(tf)
	have, err := io.Copy(hs, io.LimitReader(f, tf.Length+1)) // re-hash what a previous attempt wrote
	if err != nil {
		return &permanentError{fmt.Errorf("read download file: %w", err)}
	}
	if have > tf.Length {
		if err := restart(f, hs); err != nil {
			return err
		}
		have = 0
	}
	if have == tf.Length {
		return d.verify(hs, part)
	}
	// A server that stops sending (a stall, a slow-loris peer) cuts the
	// download after Retry.Idle without a byte; the retry resumes it.
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(d.retry.Idle, func() { cancel(errStalled) })
	defer idle.Stop()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return &permanentError{err}
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		if *validator != "" {
			req.Header.Set("If-Range", *validator)
		}
	}
	d.requests++
	resp, err := d.http.Do(req)
	if err != nil {
		return fmt.Errorf("download %s: %s", url, Explain(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return &permanentError{fmt.Errorf("download %s: asked for bytes from %d, the server answered Content-Range %q", url, have, resp.Header.Get("Content-Range"))}
		}
	case resp.StatusCode == http.StatusOK:
		if have > 0 { // the server ignored Range (or If-Range failed): start over
			if err := restart(f, hs); err != nil {
				return err
			}
			have = 0
		}
		if v := resp.Header.Get("ETag"); v != "" && !strings.HasPrefix(v, "W/") {
			*validator = v
		} else if v := resp.Header.Get("Last-Modified"); v != "" {
			*validator = v
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// Our partial file does not fit the server's: drop it and retry.
		if err := restart(f, hs); err != nil {
			return err
		}
		return &httpStatusError{status: resp.StatusCode, url: url}
	default:
		se := &httpStatusError{status: resp.StatusCode, url: url, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return &permanentError{se} // a 4xx is an answer, not an accident: never a retry loop
		}
		return se
	}
	want := tf.Length - have
	if resp.ContentLength > want {
		os.Remove(part)
		return &permanentError{fmt.Errorf("%w: %s announces %d bytes from offset %d, the metadata signs %d in all", ErrTooLong, url, resp.ContentLength, have, tf.Length)}
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return &permanentError{err}
	}
	// Read one byte more than signed, to see a server that sends too much.
	body := &idleReader{r: resp.Body, t: idle, d: d.retry.Idle}
	n, err := io.Copy(io.MultiWriter(f, hs), io.LimitReader(body, want+1))
	d.received += n
	if n > want {
		os.Remove(part)
		return &permanentError{fmt.Errorf("%w: %s sent more than the %d bytes signed", ErrTooLong, url, tf.Length)}
	}
	if err != nil || n < want {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		if cause := context.Cause(rctx); errors.Is(cause, errStalled) {
			err = cause
		}
		return fmt.Errorf("download %s cut after %d of %d bytes: %w", url, have+n, tf.Length, err)
	}
	if err := f.Sync(); err != nil {
		return &permanentError{err}
	}
	return d.verify(hs, part)
}

var errStalled = errors.New("no data received within the idle timeout")

// idleReader pushes the idle deadline back on every read that returns data.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (i *idleReader) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	if n > 0 {
		i.t.Reset(i.d)
	}
	return n, err
}

// verify compares the streamed hashes to the signed ones; a mismatch
// removes the file.
func (d *downloader) verify(hs *targetHashes, part string) error {
	if err := hs.check(); err != nil {
		os.Remove(part)
		return &permanentError{err}
	}
	return nil
}

func restart(f *os.File, hs *targetHashes) error {
	if err := f.Truncate(0); err != nil {
		return &permanentError{err}
	}
	hs.reset()
	return nil
}

// targetHashes hashes a stream with every algorithm Ward's metadata
// lists that this agent knows (sha256 required, sha512 when listed).
type targetHashes struct {
	want map[string][]byte
	h    map[string]hash.Hash
}

func newTargetHashes(tf *metadata.TargetFiles) *targetHashes {
	t := &targetHashes{want: map[string][]byte{}, h: map[string]hash.Hash{}}
	for name, v := range tf.Hashes {
		switch name {
		case "sha256":
			t.h[name] = sha256.New()
		case "sha512":
			t.h[name] = sha512.New()
		default:
			continue
		}
		t.want[name] = v
	}
	return t
}

func (t *targetHashes) Write(p []byte) (int, error) {
	for _, h := range t.h {
		h.Write(p)
	}
	return len(p), nil
}

func (t *targetHashes) reset() {
	for _, h := range t.h {
		h.Reset()
	}
}

func (t *targetHashes) check() error {
	if _, ok := t.h["sha256"]; !ok {
		return errors.New("the metadata lists no sha256 for this file: refused")
	}
	for name, h := range t.h {
		if subtle.ConstantTimeCompare(h.Sum(nil), t.want[name]) != 1 {
			return fmt.Errorf("%w (%s)", ErrHashMismatch, name)
		}
	}
	return nil
}

// contentRangeStart parses "bytes START-END/TOTAL".
func contentRangeStart(v string) (int64, bool) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, false
	}
	s, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// retryAfter parses Retry-After in seconds (the form Ward's servers send);
// an HTTP date or garbage is 0 (use the backoff).
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(min(n, 86400)) * time.Second
}
