package netids

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wardproject/ward/internal/netids/kitnet"
)

// Source yields frames: a capture file (*FileReader) or a live interface.
// Next returns io.EOF when there are no more.
type Source interface {
	Next() (Frame, error)
}

// ErrNothingScored is wrapped by Run's error when the source ended while
// the detector was still learning: every packet trained it, none was
// scored, and a run that reported success would hide that.
var ErrNothingScored = errors.New("nothing was scored")

// Run feeds every frame of src to s, calling each (if not nil) after each
// packet, until src ends, ctx is cancelled or each returns an error. The
// summary covers the packets processed, also when an error (such as a
// *CaptureError for a truncated file) ends the run early. When the source
// ends before learning does, the error wraps ErrNothingScored.
func Run(ctx context.Context, src Source, s *Sensor, each func(f *Frame, r Result) error) (Summary, error) {
	start := time.Now()
	var runErr error
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			runErr = ctx.Err()
			break
		}
		f, err := src.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				runErr = err
			} else if s.det.Phase() != kitnet.PhaseExecuting {
				o := s.det.Options()
				runErr = fmt.Errorf("%w: the capture ended after %d packets, all used for learning (learning takes %d; lower it, for example to %d, a third of the capture, or load a trained model)",
					ErrNothingScored, s.sum.Packets, o.Learn, s.sum.Packets/3)
			}
			break
		}
		r, err := s.Process(ctx, &f)
		if err != nil {
			runErr = fmt.Errorf("packet %d: %w", f.Number, err)
			break
		}
		if each != nil {
			if err := each(&f, r); err != nil {
				runErr = err
				break
			}
		}
	}
	sum := s.Summary()
	sum.Elapsed = time.Since(start)
	if sec := sum.Elapsed.Seconds(); sec > 0 {
		sum.PacketsPerS = float64(sum.Packets) / sec
	}
	return sum, runErr
}
