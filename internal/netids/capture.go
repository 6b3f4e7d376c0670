package netids

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Frame is one captured packet.
type Frame struct {
	// Number is the packet's position in the capture, from 1 as
	// Wireshark numbers frames.
	Number   uint64
	Data     []byte
	Info     gopacket.CaptureInfo
	LinkType layers.LinkType
}

// CaptureError reports a capture that cannot be read past a packet: the
// packets before it were returned and can be used.
type CaptureError struct {
	Path   string
	Packet uint64 // number (from 1) of the packet that could not be read
	Offset int64  // byte offset in the file where the packet starts
	// Approximate is set for pcapng, whose reader buffers ahead: Offset is
	// then where reading had got to, not where the bad block starts.
	Approximate bool
	Err         error
}

func (e *CaptureError) Error() string {
	near := ""
	if e.Approximate {
		near = "near "
	}
	return fmt.Sprintf("read capture %s: packet %d at %sbyte offset %d: %v (the %d packets before it were processed)",
		e.Path, e.Packet, near, e.Offset, e.Err, e.Packet-1)
}

func (e *CaptureError) Unwrap() error { return e.Err }

// ErrFileTooLarge is wrapped when a capture exceeds FileOptions.MaxBytes.
var ErrFileTooLarge = errors.New("capture file exceeds the size limit")

// FileOptions bound what OpenFile reads. Zero values mean defaults.
type FileOptions struct {
	// MaxBytes is the largest capture file accepted. Default 64 GiB.
	MaxBytes int64
	// MaxPacket is the largest captured packet accepted, in bytes; longer
	// records are an error. Default 262,144 (tcpdump's maximum snap length).
	MaxPacket int
}

// packetReader is what pcapgo's readers have in common.
type packetReader interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// FileReader reads packets from a pcap or pcapng file (plain or gzip for
// pcap), numbering them and tracking byte offsets for error reports.
type FileReader struct {
	path   string
	f      *os.File
	r      packetReader
	count  *countingReader
	ng     bool
	number uint64
	offset int64 // classic pcap: offset of the next record
	maxPkt int
	err    error
}

// OpenFile opens a pcap or pcapng capture. The caller must Close it.
func OpenFile(path string, opts FileOptions) (*FileReader, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 30
	}
	if opts.MaxPacket <= 0 {
		opts.MaxPacket = 262144
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open capture: %w", err)
	}
	if st.Size() > opts.MaxBytes {
		f.Close()
		return nil, fmt.Errorf("open capture %s: %w (%d > %d bytes; split it with editcap -c)", path, ErrFileTooLarge, st.Size(), opts.MaxBytes)
	}
	r, err := NewReader(f, opts)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open capture %s: %w", path, err)
	}
	r.path, r.f = path, f
	return r, nil
}

// NewReader reads a pcap or pcapng stream; OpenFile is the usual entry.
func NewReader(in io.Reader, opts FileOptions) (*FileReader, error) {
	if opts.MaxPacket <= 0 {
		opts.MaxPacket = 262144
	}
	cr := &countingReader{r: in}
	br := bufio.NewReaderSize(cr, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("not a pcap or pcapng file: too short (%w)", err)
	}
	fr := &FileReader{path: "(stream)", count: cr, maxPkt: opts.MaxPacket}
	if binary.BigEndian.Uint32(magic) == 0x0A0D0D0A {
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{})
		if err != nil {
			return nil, fmt.Errorf("not a readable pcapng file: %w", err)
		}
		fr.r, fr.ng = ng, true
		return fr, checkLinkType(fr.r.LinkType())
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("not a pcap or pcapng file: %w", err)
	}
	if pr.Snaplen() > uint32(opts.MaxPacket) || pr.Snaplen() == 0 {
		pr.SetSnaplen(uint32(opts.MaxPacket))
	}
	fr.r, fr.offset = pr, 24
	return fr, checkLinkType(pr.LinkType())
}

// ErrLinkType is wrapped when a capture's link type cannot be decoded.
var ErrLinkType = errors.New("unsupported link type")

// checkLinkType refuses a capture whose packets the sensor cannot decode,
// instead of counting every packet as undecoded.
func checkLinkType(lt layers.LinkType) error {
	if _, ok := firstLayer(lt); !ok {
		return fmt.Errorf("%w %s (%d): Ward decodes Ethernet, Linux cooked (SLL, SLL2), raw IP and BSD loopback captures; capture on a wired interface or re-encapsulate the file (editcap -T)", ErrLinkType, lt, int(lt))
	}
	return nil
}

// LinkType returns the capture's link type.
func (r *FileReader) LinkType() layers.LinkType { return r.r.LinkType() }

// Next returns the next packet. At the end of the capture it returns
// io.EOF; on a corrupt or truncated record it returns a *CaptureError and
// keeps returning it.
func (r *FileReader) Next() (Frame, error) {
	if r.err != nil {
		return Frame{}, r.err
	}
	data, ci, err := r.r.ReadPacketData()
	if err == nil && (ci.CaptureLength > r.maxPkt || len(data) > r.maxPkt) {
		err = fmt.Errorf("captured length %d exceeds the %d-byte packet limit", len(data), r.maxPkt)
	}
	if err != nil {
		if err == io.EOF {
			r.err = io.EOF
			return Frame{}, io.EOF
		}
		ce := &CaptureError{Path: r.path, Packet: r.number + 1, Offset: r.offset, Err: err}
		if r.ng {
			ce.Offset, ce.Approximate = r.count.n, true
		}
		r.err = ce
		return Frame{}, ce
	}
	r.number++
	r.offset += 16 + int64(len(data))
	return Frame{Number: r.number, Data: data, Info: ci, LinkType: r.r.LinkType()}, nil
}

// Close closes the underlying file.
func (r *FileReader) Close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
