// Package netids is Ward's network sensor: it reads packets from pcap and
// pcapng files or a live Linux interface (AF_PACKET, pure Go via gopacket's
// pcapgo), keeps an inventory of the hosts it sees (asset discovery), runs
// signature rules and MUD segmentation policy (Inspectors, in the rules and
// mud sub-packages) and scores every packet with an online, unsupervised
// anomaly detector, raising alerts with evidence (packet number, score,
// threshold, 5-tuple, rule).
//
// # Detector
//
// Features are Kitsune's AfterImage damped statistics (package afterimage);
// the detector is a KitNET autoencoder ensemble (package kitnet) with a log
// feature transform and clipped inputs (scores in [0, 1], out-of-range
// features reported as drift), followed by a per-host moving average of
// scores (window.go). The first Options.Learn packets train it; the last
// of them (Options.Calibrate) are held back and scored by the frozen model,
// and the alert threshold comes from those scores. docs/detection.md has the
// measurements that justify each choice against the reference Kitsune.
// No maintained Go library implements AfterImage or KitNET, so Ward writes
// its own.
//
// # Integration
//
// The sensor declares what it needs from the rest of Ward: an AlertSink
// (default JSONSink, JSON lines) and a DeviceRegistry that maps MAC/IP
// addresses to enrolled devices (StaticRegistry reads a CSV file). cmd/ward
// wires concrete types in; nothing here reads configuration.
//
// # Bounds
//
// Capture files are capped (64 GiB, 256 KiB per record); every table (feature
// streams, score window, rule state, inventory) has a size cap and evicts
// idle or stale entries, so the sensor runs for months on a live link in
// bounded memory. A Sensor is owned by one goroutine.
package netids
