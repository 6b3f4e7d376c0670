package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/wardproject/ward/internal/secret"
	"github.com/wardproject/ward/internal/store"
)

// MaxImport bounds the devices of one Import call (the CLI sends a large
// file in batches of this size).
const MaxImport = 10000

// ErrEnrolled: Delete refused a device that holds or held a certificate.
var ErrEnrolled = store.ErrEnrolled

// ImportError lists every device of an import that is invalid; nothing
// was registered.
type ImportError struct {
	// Problems holds one message per bad device, in input order,
	// each starting with the device's position (1-based) and ID.
	Problems []string
}

func (e *ImportError) Error() string {
	return fmt.Sprintf("%d of the devices are invalid, none was registered: %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

// Unwrap makes errors.Is(err, ErrBadRequest) true.
func (e *ImportError) Unwrap() error { return ErrBadRequest }

// Imported is one device registered by Import, with its token (shown once).
type Imported struct {
	Device     store.Device
	Enrollment Enrollment
}

// Import registers devices in the pending state, each with a one-time
// enrollment token, all in one store transaction: every device is
// checked first (an *ImportError lists every bad one, and a repeated ID),
// and when one of them exists already nothing is registered
// (store.ErrConflict naming it). At most MaxImport devices.
func (r *Registry) Import(ctx context.Context, nds []NewDevice) ([]Imported, error) {
	if len(nds) == 0 {
		return nil, fmt.Errorf("%w: no device to import", ErrBadRequest)
	}
	if len(nds) > MaxImport {
		return nil, fmt.Errorf("%w: %d devices in one import; send at most %d at a time", ErrBadRequest, len(nds), MaxImport)
	}
	var problems []string
	first := make(map[string]int, len(nds))
	for i, nd := range nds {
		err := CheckNewDevice(nd)
		if j, dup := first[nd.ID]; err == nil && dup {
			err = fmt.Errorf("listed twice (first as device %d)", j+1)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("device %d (%q): %s", i+1, nd.ID, strings.TrimPrefix(err.Error(), ErrBadRequest.Error()+": ")))
			if len(problems) == 100 {
				problems = append(problems, "(further problems not listed)")
				break
			}
		}
		if _, dup := first[nd.ID]; !dup {
			first[nd.ID] = i
		}
	}
	if problems != nil {
		return nil, &ImportError{Problems: problems}
	}
	now := r.now().UTC()
	ds := make([]store.Device, len(nds))
	toks := make([]store.EnrollToken, len(nds))
	out := make([]Imported, len(nds))
	for i, nd := range nds {
		ttl := nd.TokenTTL
		if ttl <= 0 {
			ttl = r.opts.TokenTTL
		}
		tok, err := secret.New()
		if err != nil {
			return nil, err
		}
		ds[i] = store.Device{ID: nd.ID, Model: nd.Model, Firmware: nd.Firmware, Tags: nd.Tags, Status: store.StatusPending,
			Policy: nd.Policy, CreatedAt: now, UpdatedAt: now}
		toks[i] = store.EnrollToken{DeviceID: nd.ID, Hash: secret.Hash(tok.Reveal()), CreatedAt: now, ExpiresAt: now.Add(ttl)}
		out[i] = Imported{Device: ds[i], Enrollment: Enrollment{Token: tok, ExpiresAt: toks[i].ExpiresAt}}
	}
	if err := r.opts.Store.CreateDevices(ctx, ds, toks); err != nil {
		return nil, fmt.Errorf("import %d devices: %w", len(nds), err)
	}
	evs := make([]store.Event, len(ds))
	for i, d := range ds {
		evs[i] = store.Event{DeviceID: d.ID, Time: now, Kind: "registered", Detail: map[string]string{"model": d.Model, "firmware": d.Firmware, "by": "import"}}
		r.notify(d)
	}
	if err := r.opts.Store.AddEvents(context.WithoutCancel(ctx), evs); err != nil {
		r.log.Error("record the imported devices' events", "devices", len(evs), "err", err)
	}
	r.log.Info("devices imported", "devices", len(ds))
	return out, nil
}

// Delete removes a device that never enrolled (a registration made by
// mistake), with its pending enrollment token and its events. A device
// that holds or ever held a certificate has a history to keep: it is
// refused (ErrEnrolled), and retired instead. The check and the delete
// are one store transaction under the device's lock, so an enrollment
// racing the delete either completes first (the delete is refused) or
// finds no device (the enrollment is refused).
func (r *Registry) Delete(ctx context.Context, id string) error {
	err := r.opts.Store.DeleteDevice(ctx, id)
	if errors.Is(err, store.ErrEnrolled) {
		return fmt.Errorf("device %s has enrolled; retire it instead (ward device retire %s): %w", id, id, ErrEnrolled)
	}
	if err != nil {
		return fmt.Errorf("delete device %s: %w", id, err)
	}
	r.log.Info("device deleted", "device_id", id)
	return nil
}
