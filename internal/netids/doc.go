// Package netids is Ward's network sensor: it reads packets from pcap and
// pcapng files or a live Linux interface (AF_PACKET, pure Go via gopacket's
// pcapgo), keeps an inventory of the hosts it sees (asset discovery),
// follows every connection (package conntrack: handshake outcomes, decayed
// counters), runs signature rules and MUD segmentation policy (Inspectors,
// in the rules and mud sub-packages), and scores every packet by the
// evidence of its connection, raising one incident per host and hour with
// its evidence flows.
//
// # Detector
//
// Features are Kitsune's AfterImage damped statistics (package afterimage);
// the learned detector is a KitNET autoencoder ensemble (package kitnet)
// with a log feature transform and clipped inputs (scores in [0, 1],
// out-of-range features reported as drift). The first Options.Learn
// packets train it; the last of them (Options.Calibrate) are held back and
// scored by the frozen model to calibrate it. No maintained Go library
// implements AfterImage or KitNET, so Ward writes its own.
//
// # Evidence and incidents
//
// Each connection carries evidence terms in [0, 1] (evidence.go): failed
// handshakes to a server that never answered, fan-out and new-connection
// bursts on the client's unproven connections, rule hits on the flows of
// their pattern, service novelty against the profile learnt, DNS names
// inheriting the evidence of their addresses, and the learned score and
// drift as bounded terms. A noisy-OR fuses them; a fused score above a
// fixed threshold opens or raises its client's incident for the hour
// (incident.go). There is no per-host average of packet scores (window.go
// keeps the old one as an evaluation baseline). docs/detection.md has the
// measurements per host, per connection and per packet.
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
// streams, connections, pending handshakes, clients, DNS names, incidents,
// rule state, inventory) has a size cap and evicts
// idle or stale entries, so the sensor runs for months on a live link in
// bounded memory. A Sensor is owned by one goroutine.
package netids
