package tlsidle

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/wardtest"
)

// TestLayoutSupported fails when this Go's crypto/tls no longer has the
// fields Release knows: Release would then do nothing, and idle sessions
// would cost the memory it saves. Update findLayout (and the package doc)
// after reading the new crypto/tls.
func TestLayoutSupported(t *testing.T) {
	if ok, why := Supported(); !ok {
		t.Fatalf("tlsidle is not supported with %s: %s", runtime.Version(), why)
	}
}

// TestFindLayoutRefusesOtherLayouts: a field missing, of another type, or
// an input half-connection without its mutex first disables Release.
func TestFindLayoutRefusesOtherLayouts(t *testing.T) {
	type half struct {
		sync.Mutex
		err error
	}
	type halfNoMutex struct {
		err error
		sync.Mutex
	}
	type fields struct {
		isHandshakeComplete atomic.Bool
		handshakeMutex      sync.Mutex
		rawInput            bytes.Buffer
		input               bytes.Reader
		hand                bytes.Buffer
		peerCertificates    []*x509.Certificate
		verifiedChains      [][]*x509.Certificate
	}
	type like struct { // the layout Release knows
		fields
		in half
	}
	if l := findLayout(reflect.TypeFor[like]()); l.ok {
		t.Fatal("findLayout accepted promoted fields (crypto/tls declares them directly)")
	}
	type good struct {
		isHandshakeComplete atomic.Bool
		handshakeMutex      sync.Mutex
		rawInput            bytes.Buffer
		input               bytes.Reader
		hand                bytes.Buffer
		peerCertificates    []*x509.Certificate
		verifiedChains      [][]*x509.Certificate
		in                  half
	}
	if l := findLayout(reflect.TypeFor[good]()); !l.ok {
		t.Fatalf("findLayout refused the known layout: %s", l.why)
	}
	type noMutexFirst struct {
		isHandshakeComplete atomic.Bool
		handshakeMutex      sync.Mutex
		rawInput            bytes.Buffer
		input               bytes.Reader
		hand                bytes.Buffer
		peerCertificates    []*x509.Certificate
		verifiedChains      [][]*x509.Certificate
		in                  halfNoMutex
	}
	type wrongType struct {
		isHandshakeComplete atomic.Bool
		handshakeMutex      sync.Mutex
		rawInput            []byte
		input               bytes.Reader
		hand                bytes.Buffer
		peerCertificates    []*x509.Certificate
		verifiedChains      [][]*x509.Certificate
		in                  half
	}
	for _, tc := range []struct {
		name string
		typ  reflect.Type
	}{
		{"not a struct", reflect.TypeFor[int]()},
		{"a field of another type", reflect.TypeFor[wrongType]()},
		{"missing fields", reflect.TypeFor[struct{ in half }]()},
		{"input half without its mutex first", reflect.TypeFor[noMutexFirst]()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l := findLayout(tc.typ); l.ok || l.why == "" {
				t.Fatalf("findLayout(%v) = ok %v, why %q; want refused with a reason", tc.typ, l.ok, l.why)
			}
		})
	}
	if l := findLayout(reflect.TypeFor[tls.Conn]()); !l.ok {
		t.Fatalf("findLayout(tls.Conn) refused: %s", l.why)
	}
}

// rig is a mutual-TLS listener on loopback with the client and server
// configurations of a device and a gateway (the client offers
// X25519MLKEM768, Go's default, as the load client does).
type rig struct {
	ln     net.Listener
	server *tls.Config
	client *tls.Config
}

func newRig(t *testing.T) *rig {
	t.Helper()
	p := wardtest.NewCorporatePKI(t, t.TempDir())
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "gateway"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"gateway.test"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.Issuing, key.Public(), p.IssuingKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.Issuing)
	dev := wardtest.DeviceCert(t, p.Issuing, p.IssuingKey, "dev-1", "dev-1", nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return &rig{
		ln: ln,
		server: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool},
		client: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: "gateway.test", Certificates: []tls.Certificate{dev}},
	}
}

// pair returns a connected server and client whose handshake is complete.
func (r *rig) pair(t *testing.T) (srv, cli *tls.Conn) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := r.ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	conn, err := net.Dial("tcp", r.ln.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	cli = tls.Client(conn, r.client)
	raw := <-accepted
	if raw == nil {
		t.Fatal("accept failed")
	}
	srv = tls.Server(raw, r.server)
	t.Cleanup(func() { _ = cli.Close(); _ = srv.Close() })
	errc := make(chan error, 1)
	go func() { errc <- cli.Handshake() }()
	if err := srv.Handshake(); err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	return srv, cli
}

// roundTrip sends msg from cli to srv and back, and checks both copies.
func roundTrip(t *testing.T, srv, cli *tls.Conn, msg []byte) {
	t.Helper()
	go func() { _, _ = cli.Write(msg) }()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(srv, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("server read %d bytes (%v), not the %d sent", len(got), err, len(msg))
	}
	go func() { _, _ = srv.Write(got) }()
	back := make([]byte, len(msg))
	if _, err := io.ReadFull(cli, back); err != nil || !bytes.Equal(back, msg) {
		t.Fatalf("client read back %d bytes (%v), not the %d sent", len(back), err, len(msg))
	}
}

// TestReleaseKeepsTheConnectionWorking: after Release an idle connection
// reads and writes small and large records as before, ConnectionState no
// longer holds the peer's certificate, and a second Release has nothing
// left to release; with TLS 1.3 and with TLS 1.2, which Ward accepts too.
func TestReleaseKeepsTheConnectionWorking(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			r := newRig(t)
			r.client.MaxVersion = v
			srv, cli := r.pair(t)
			if got := srv.ConnectionState().Version; got != v {
				t.Fatalf("negotiated %s, want %s", tls.VersionName(got), tls.VersionName(v))
			}
			roundTrip(t, srv, cli, []byte("hello"))
			if n := len(srv.ConnectionState().PeerCertificates); n != 1 {
				t.Fatalf("before Release: %d peer certificates, want 1", n)
			}
			if !Release(srv) {
				t.Fatal("Release of an idle connection released nothing")
			}
			cs := srv.ConnectionState()
			if len(cs.PeerCertificates) != 0 || len(cs.VerifiedChains) != 0 {
				t.Fatalf("after Release: %d peer certificates, %d chains; want none", len(cs.PeerCertificates), len(cs.VerifiedChains))
			}
			if !cs.HandshakeComplete {
				t.Fatal("after Release the handshake is no longer complete")
			}
			big := bytes.Repeat([]byte("0123456789abcdef"), 3000) // 48,000 bytes: several full records
			for i, msg := range [][]byte{[]byte("ping"), big, []byte("x")} {
				roundTrip(t, srv, cli, msg)
				if i == 0 && !Release(srv) {
					t.Fatal("Release after a read released nothing (the read grew the input buffer again)")
				}
			}
			Release(srv)
			if Release(srv) {
				t.Fatal("a second Release in a row released something")
			}
		})
	}
}

// TestReleaseLeavesBufferedBytes: while a record or its plaintext is
// buffered in the connection, Release leaves everything, and every byte
// still arrives.
func TestReleaseLeavesBufferedBytes(t *testing.T) {
	r := newRig(t)
	srv, cli := r.pair(t)
	msg := bytes.Repeat([]byte("abcdefgh"), 512) // 4 KiB in one record
	if _, err := cli.Write(msg); err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 10)
	if _, err := io.ReadFull(srv, first); err != nil {
		t.Fatal(err)
	}
	if Release(srv) {
		t.Fatal("Release released with plaintext buffered")
	}
	rest := make([]byte, len(msg)-len(first))
	if _, err := io.ReadFull(srv, rest); err != nil {
		t.Fatal(err)
	}
	if got := append(first, rest...); !bytes.Equal(got, msg) {
		t.Fatal("bytes lost or changed around a refused Release")
	}
}

// TestReleaseBeforeHandshake: a connection whose handshake has not run
// is left alone.
func TestReleaseBeforeHandshake(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Release(tls.Server(a, &tls.Config{})) {
		t.Fatal("Release released on a connection without a handshake")
	}
	if Release(nil) {
		t.Fatal("Release(nil) reported a release")
	}
}

// TestReleaseRacesReadsAndWrites: Release called without pause from
// another goroutine while the connection carries traffic both ways loses
// and corrupts nothing (run with -race: the locks it takes are the ones
// crypto/tls takes).
func TestReleaseRacesReadsAndWrites(t *testing.T) {
	r := newRig(t)
	srv, cli := r.pair(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				Release(srv)
				runtime.Gosched()
			}
		}
	}()
	for i := range 300 {
		msg := bytes.Repeat([]byte{byte(i)}, 1+i*37%5000)
		roundTrip(t, srv, cli, msg)
	}
	close(stop)
	wg.Wait()
}

// TestReleaseFreesMemory: what Release exists for. The heap retained by
// idle server connections falls by at least 4 KiB per connection (the
// ClientHello's buffers and the parsed client certificate).
func TestReleaseFreesMemory(t *testing.T) {
	const n = 64
	r := newRig(t)
	srvs := make([]*tls.Conn, n)
	for i := range srvs {
		var cli *tls.Conn
		srvs[i], cli = r.pair(t)
		roundTrip(t, srvs[i], cli, []byte("connect"))
	}
	before := liveHeap()
	released := 0
	for _, s := range srvs {
		if Release(s) {
			released++
		}
	}
	after := liveHeap()
	if released != n {
		t.Fatalf("released %d of %d idle connections", released, n)
	}
	per := (int64(before) - int64(after)) / n
	t.Logf("live heap %d → %d bytes: %d bytes per connection released", before, after, per)
	if per < 4096 {
		t.Fatalf("Release freed %d bytes per idle connection, want at least 4096", per)
	}
	runtime.KeepAlive(srvs)
}

// liveHeap is the heap in use after two collections.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
