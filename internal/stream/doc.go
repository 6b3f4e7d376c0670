// Package stream is Ward's live feed: a Hub that fans alert changes,
// device state changes and device events out to server-sent-events (SSE)
// clients (GET /api/v1/stream, the console's EventSource, the CLI's
// --follow), and the SSE encoder that writes them. It implements the
// event-stream format of the WHATWG HTML standard (section 9.2,
// "Server-sent events"); the matching parser is in package client.
//
// The Hub knows nothing of alerts or devices: package server tees the
// alert manager's and the fleet's changes into Publish, so that neither
// alert nor fleet imports this package. Package api authenticates the
// request and calls Subscribe and Serve.
//
// # Delivery
//
// Publish never blocks: each subscriber has a bounded buffer
// (Options.Buffer events). A subscriber whose buffer is full is dropped:
// its channel is closed after the events already in it, Serve writes them
// and a final "event: overflow", and ward_stream_dropped_clients_total
// counts it. Nothing is lost silently: the client reconnects with
// Last-Event-ID and the replay ring gives it what it missed.
//
// Every event gets an ID "<boot>-<seq>": boot is random per Hub (per
// server start), seq counts up from 1. The last Options.Replay events are
// kept in a ring; a subscriber that names the ID of the last event it saw
// gets every later event of the ring that its filter selects, in order,
// then live events, with no gap and no duplicate (both are read under one
// lock). An ID from another boot, or older than the ring, gets
// "event: reset" first: the client must reload what it shows.
//
// # Cluster
//
// With Options.Bus (NATS), every local event is also published on the bus
// subject "stream" and every other node's events are fed into the local
// Hub, de-duplicated by their origin ID, so that a client sees the events
// of every node once, under the IDs of the node it is connected to. Bus
// delivery is at most once: an event lost on the bus is not replayed.
package stream
