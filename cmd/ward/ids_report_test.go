package main

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/pki"
)

// writeScanPcap writes a capture in which src sends SYNs to 60 ports of dst.
func writeScanPcap(t *testing.T, path string, src, dst net.IP) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for i := range 60 {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(1 + i), SYN: true, Seq: uint32(i), Window: 1024}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * 10 * time.Millisecond), CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
		if err := w.WritePacket(ci, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIDSReport: `ward ids analyze --report` sends the sensor's alerts into
// the server's pipeline, attributed to the enrolled device whose gateway
// session comes from the scanning host.
func TestIDSReport(t *testing.T) {
	w := startForCLI(t)
	srv, ctx := w.srv, context.Background()
	url := w.env[1]
	c, _ := client.New(client.Options{Server: url, Token: w.env[3], Roots: srv.CA().RootPool()})

	// Enroll and connect a device: it comes from 127.0.0.1.
	var res api.EnrollmentResponse
	if err := c.Post(ctx, "/api/v1/devices", api.AddDeviceRequest{ID: "cam-1", Model: "acme-cam2"}, &res); err != nil {
		t.Fatal(err)
	}
	key, _ := est.NewDeviceKey()
	csr, _ := est.NewCSR("cam-1", key)
	crt, err := (&est.Client{Server: url, Roots: srv.CA().RootPool()}).Enroll(ctx, "cam-1", res.Token, csr)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{crt.Raw}, PrivateKey: key}
	mc := paho.NewClient(paho.NewClientOptions().AddBroker("tls://" + srv.MQTTAddr().String()).SetClientID("cam-1").
		SetTLSConfig(pki.ClientConfig(srv.CA().RootPool(), &cert)).SetAutoReconnect(false))
	if tk := mc.Connect(); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("connect: %v", tk.Error())
	}
	defer mc.Disconnect(0)

	pcap := filepath.Join(t.TempDir(), "scan.pcap")
	writeScanPcap(t, pcap, net.IPv4(127, 0, 0, 1), net.IPv4(192, 0, 2, 50))
	cmd := newRootCmd()
	cmd.SetArgs(append([]string{"ids", "analyze", pcap, "--learn", "10", "--alerts", "", "--report"}, w.env...))
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("ward ids analyze --report: %v\n%s", err, out.String())
	}
	var as []alert.Alert
	if err := c.Get(ctx, "/api/v1/alerts?device=cam-1", &as); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range as {
		found = found || (a.Source == "netids" && a.Rule == "netids-port-scan")
	}
	if !found {
		t.Fatalf("no netids-port-scan alert on cam-1; alerts %+v; output %s", as, out.String())
	}
}
