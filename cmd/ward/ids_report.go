package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/netids"
)

// serverSink sends the sensor's alerts into Ward's alert pipeline (POST
// /api/v1/alerts) so that they are deduplicated, notified and listed with
// the gateway's. A host that maps to an enrolled device is reported as that
// device; any other as "net:<ip>".
type serverSink struct{ c *client.Client }

// severity maps the sensor's severities onto alert severities.
func severity(s netids.Severity) alert.Severity {
	switch v := alert.Severity(s); v {
	case alert.Low, alert.Medium, alert.High, alert.Critical:
		return v
	}
	if s == netids.SeverityInfo { // a new device or service: the server has no info level
		return alert.Low
	}
	return alert.Medium
}

func (s serverSink) Send(ctx context.Context, a netids.Alert) error {
	dev := a.DeviceID
	if dev == "" {
		dev = "net:" + a.Flow.Src.String()
	}
	ev := alert.Evidence{Value: a.Score, Threshold: a.Threshold, Detail: map[string]string{
		"packet": strconv.FormatUint(a.Packet, 10), "flow": fmt.Sprintf("%s %s:%d -> %s:%d", a.Flow.Proto, a.Flow.Src, a.Flow.SrcPort, a.Flow.Dst, a.Flow.DstPort), "src_mac": a.SrcMAC, "count": strconv.Itoa(a.Count)}}
	if a.Score > 0 {
		ev.Metric, ev.Comparison, ev.Statistic = "anomaly score", ">", "learned detector threshold"
	}
	out := alert.Alert{Device: dev, Rule: "netids-" + a.Rule, Source: "netids", Severity: severity(a.Severity),
		Title: a.Message, Description: a.Message, Evidence: ev, RaisedAt: a.Time}
	return s.c.Post(ctx, "/api/v1/alerts", out, nil)
}

// teeSink sends each alert to every sink.
type teeSink []netids.AlertSink

func (t teeSink) Send(ctx context.Context, a netids.Alert) error {
	var errs []error
	for _, s := range t {
		errs = append(errs, s.Send(ctx, a))
	}
	return errors.Join(errs...)
}

// connectReport joins the sensor to a Ward server: alerts go into its
// pipeline, and the addresses of devices connected to its gateway map
// hosts to enrolled devices (hosts that map to none are reported as
// unknown devices: asset discovery).
func connectReport(cmd *cobra.Command, opts *netids.Options) error {
	c, err := apiClient(cmd)
	if err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	var nds []api.NetworkDevice
	if err := c.Get(cmd.Context(), "/api/v1/network/devices", &nds); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	reg, _ := opts.Registry.(*netids.StaticRegistry)
	if reg == nil {
		reg = netids.NewStaticRegistry()
	}
	for _, nd := range nds {
		for _, ip := range nd.IPs {
			if err := reg.Add(ip, netids.Device{ID: nd.Device, Model: nd.Model}); err != nil {
				fmt.Fprintf(os.Stderr, "ward ids: skipping address of %s: %v\n", nd.Device, err)
			}
		}
	}
	opts.Registry = reg
	sink := netids.AlertSink(serverSink{c})
	if opts.Sink != nil {
		sink = teeSink{opts.Sink, sink}
	}
	opts.Sink = sink
	fmt.Fprintf(os.Stderr, "ward ids: reporting to the server; %d connected devices mapped by address\n", len(nds))
	return nil
}
