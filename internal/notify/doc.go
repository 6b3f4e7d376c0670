// Package notify delivers alert changes (alert.Notification) to the
// operator's systems: signed JSON webhooks, syslog (RFC 5424 over UDP, TCP
// or TLS, optionally carrying ArcSight CEF) and an MQTT topic. It does not
// decide what is an alert (package detect, netids), nor keep alert state
// (package alert), nor act on devices (package respond).
//
// # Dispatcher
//
// A Dispatcher holds one Route per sink: the Sink, a Filter (minimum
// severity, which changes), a retry budget and a bounded queue. Notify
// never blocks: it copies the notification into the queue of every sink
// whose filter matches, and when a queue is full it drops the
// notification for that sink and counts it. Run starts one worker per
// sink, so a slow or failing sink delays only itself and never the
// gateway. A failed Send is retried with exponential backoff and jitter (a
// receiver's Retry-After is honoured up to Options.MaxRetryAfter); errors
// that say a retry cannot help (see Permanent, StatusError) are not. When
// a notification cannot be delivered it is written to DeadLetters,
// by default a JSON-lines file (see DeadLetterRecord) that an operator
// can replay. On shutdown Run keeps delivering what is queued for
// Options.DrainTimeout and dead-letters the rest.
//
// Delivery is at least once: a retry after a timeout may repeat a
// notification the receiver already got. Receivers deduplicate on
// (alert.id, change, time).
//
// Metrics, with sink = the configured sink name:
//
//	ward_notify_sent_total{sink,result}     result: ok, retried, failed
//	ward_notify_dropped_total{sink}         queue full
//	ward_notify_dead_letters_total{sink}    dead-letter records written
//	ward_notify_queue_length{sink}
//
// # Webhook
//
// A Webhook POSTs the notification as JSON, Content-Type
// application/json, User-Agent ward/<version>:
//
//	{
//	  "change": "raised",            // raised, updated, acknowledged, cleared, mitigated
//	  "time": "2026-03-01T12:00:00Z", // when the change happened (RFC 3339)
//	  "alert": {
//	    "id": "...", "device": "d-42", "rule": "msg-rate",
//	    "source": "detect",          // detect, baseline, netids
//	    "severity": "high",          // low, medium, high, critical
//	    "state": "open",             // open, acknowledged, cleared
//	    "title": "...", "description": "...",
//	    "evidence": {"metric": "...", "window": "1m", "comparison": ">",
//	                 "value": 812, "threshold": 300, "statistic": "...",
//	                 "values": ["..."], "window_start": "...", "window_end": "...",
//	                 "detail": {"k": "v"}},
//	    "mitre": ["T0814"],
//	    "raised_at": "...", "updated_at": "...", "count": 3,
//	    "acknowledged_at": "...", "acknowledged_by": "...",
//	    "cleared_at": "...", "cleared_by": "auto",
//	    "mitigations": ["quarantine"]
//	  }
//	}
//
// Fields are those of alert.Notification and may be added to; receivers
// ignore unknown fields. Unset times are "0001-01-01T00:00:00Z".
//
// Each request carries
//
//	X-Ward-Event: <change>
//	X-Ward-Timestamp: <Unix seconds when signed>
//	X-Ward-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// A receiver verifies a request thus: read the raw body (before any JSON
// parsing); reject the request if X-Ward-Timestamp is more than five
// minutes from its own clock (this stops replays of a captured request);
// compute HMAC-SHA256 over the timestamp header's text, a '.', and the
// body, with the shared secret as key; hex-encode it, prefix "sha256=" and
// compare with X-Ward-Signature in constant time (hmac.Equal in Go,
// hmac.compare_digest in Python). The secret is a file of at least 16
// bytes (ReadSecretFile). Answer 2xx on success. 408, 429 and 5xx (and
// network errors) are retried, with Retry-After honoured on 429 and 503;
// any other status, and any redirect, is not retried and goes to the dead
// letters. The URL must be https, except to a receiver on the loopback
// interface; TLS verifies the receiver against the system roots or the
// caller's tls.Config, never skipping verification.
//
// # Syslog
//
// A Syslog sink writes one RFC 5424 message per notification over UDP
// (RFC 5426), TCP with octet-counting framing (RFC 6587) or TLS
// (RFC 5425). Package log/syslog is not used: it writes the older BSD
// format (RFC 3164) with no structured data, has no TLS, and frames TCP
// with newlines, which breaks on multi-line text. The connection is
// re-dialled when a write fails or the collector has closed it.
//
// The header is <PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID, where PRI is
// facility (default 4, security/authorization) * 8 + SyslogSeverity (the
// alert's severity: critical 2, high 3, medium 4, low 5; acknowledgements
// and clearances 6), TIMESTAMP the change's time and MSGID the change.
// With format rfc5424 the structured data element [ward@32473 …] carries
// id, device, rule, severity, state, change, source, count, mitre (comma
// separated) and, for metric evidence, metric, window, value and
// threshold; MSG is the title and description. With format cef the
// structured data is "-" and MSG is the FormatCEF line. Control
// characters become spaces; non-ASCII MSG text is UTF-8 with a BOM.
//
// # CEF
//
// FormatCEF writes CEF:0|Ward|Ward|1|<rule>|<title>|<severity>|<extension>
// with CEFSeverity (critical 10, high 8, medium 5, low 3;
// acknowledgements and clearances 1) and these extension keys, from the
// ArcSight dictionary:
//
//	rt          change time, ms since the Unix epoch
//	act         change: raised, updated, acknowledged, cleared, mitigated
//	cat         alert source: detect, baseline, netids
//	externalId  alert ID
//	cs1         device ID                  (cs1Label=deviceId)
//	cs2         alert severity             (cs2Label=alertSeverity)
//	cs3         alert state                (cs3Label=alertState)
//	cs4         MITRE ATT&CK technique IDs, comma separated (cs4Label=mitreTechniques)
//	cs5, cs6    evidence metric and window (cs5Label=metric, cs6Label=window)
//	cfp1, cfp2  evidence value and threshold (cfp1Label=value, cfp2Label=threshold)
//	cnt         datapoints that confirmed the alert
//	start, end  raised and cleared times, ms since the Unix epoch
//	suser       the operator who acknowledged or cleared it
//	msg         description
//
// The Device Version field is CEFVersion, the version of this mapping.
//
// # MQTT
//
// An MQTT sink publishes the webhook's JSON body to
// <topic_prefix>/<severity>/<device> (default prefix ward/alerts) at QoS 1
// through a Publisher: Ward's own broker (the gateway's Publish). An
// external broker is not supported: its client was removed in issue 13 as
// no configuration reached it.
//
// # Configuration
//
// Config, WebhookConfig, SyslogConfig and MQTTConfig are the YAML shape of
// the notify section; their Validate methods name the key, the problem and
// the fix, and their Options methods build the sink options. The HMAC
// secret is a secret.Value, which prints [REDACTED].
//
// # Testing
//
// go test ./internal/notify -update rewrites the golden files in testdata/.
package notify
