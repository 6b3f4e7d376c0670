package gateway

import (
	"strings"

	"github.com/wardproject/ward/internal/mqtttopic"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

// DevicePrefix is the root of the per-device topic trees: device X owns
// devices/X and everything below it.
const DevicePrefix = "devices"

// ACL is one device's compiled topic permissions. The zero ACL denies
// everything.
//
// A device may always use its own tree (devices/{id} and devices/{id}/#)
// and, in addition, the grants it was given. Whatever the grants say, a
// topic or filter that could reach into another device's tree (anything
// under devices/ whose second level is not the device's own ID, or a
// leading '#'), and any $-topic, is refused.
type ACL struct {
	device    string
	publish   []string
	subscribe []string
}

// NewACL compiles the permissions of deviceID from its policies (typically
// the model's and the device's own). "{id}" in a grant is replaced by the
// device ID; invalid grant filters are ignored. An invalid device ID yields
// an ACL that denies everything.
func NewACL(deviceID string, policies ...store.Policy) ACL {
	if pki.CheckDeviceID(deviceID) != nil {
		return ACL{}
	}
	own := DevicePrefix + "/" + deviceID + "/#"
	a := ACL{device: deviceID, publish: []string{own}, subscribe: []string{own}}
	for _, p := range policies {
		a.publish = appendGrants(a.publish, deviceID, p.Publish)
		a.subscribe = appendGrants(a.subscribe, deviceID, p.Subscribe)
	}
	return a
}

func appendGrants(dst []string, id string, grants []string) []string {
	for _, g := range grants {
		g = strings.ReplaceAll(g, "{id}", id)
		if !mqtttopic.ValidFilter(g) {
			continue
		}
		dup := false
		for _, d := range dst {
			if d == g {
				dup = true
				break
			}
		}
		if !dup {
			dst = append(dst, g)
		}
	}
	return dst
}

// QuarantinePrefix is the root of the quarantine topic trees: a device in
// restricted quarantine may use quarantine/{id} and quarantine/{id}/#
// and nothing else.
const QuarantinePrefix = "quarantine"

// NewQuarantineACL returns the permissions of a device in restricted
// quarantine: its quarantine tree only, whatever its grants say.
func NewQuarantineACL(deviceID string) ACL {
	if pki.CheckDeviceID(deviceID) != nil {
		return ACL{}
	}
	own := QuarantinePrefix + "/" + deviceID + "/#"
	return ACL{device: deviceID, publish: []string{own}, subscribe: []string{own}}
}

// CanPublish reports whether the device may publish to the concrete topic.
// Its own OrderTopic is Ward's alone: no grant lets a device publish an
// update order, even to itself.
func (a ACL) CanPublish(topic string) bool {
	if a.device == "" || !mqtttopic.ValidTopic(topic) || topic[0] == '$' || CrossesDevices(a.device, topic) || topic == OrderTopic(a.device) {
		return false
	}
	return anyCovers(a.publish, topic) // a valid topic is a valid filter: no second validation
}

// CanSubscribe reports whether the device may subscribe to filter: every
// topic the filter can match must be allowed.
func (a ACL) CanSubscribe(filter string) bool {
	if a.device == "" || CrossesDevices(a.device, filter) {
		return false
	}
	return Allowed(filter, a.subscribe)
}

// CrossesDevices reports whether filterOrTopic can match a topic in the tree
// of a device other than id: a leading '#', or a first level that matches
// "devices" followed by a second level that is not exactly id.
func CrossesDevices(id, filterOrTopic string) bool {
	l0, rest, more := strings.Cut(filterOrTopic, "/")
	if l0 == "#" {
		return true
	}
	if l0 != DevicePrefix && l0 != "+" {
		return false
	}
	if !more {
		return false // the single-level topic "devices" belongs to no device
	}
	l1, _, _ := strings.Cut(rest, "/")
	return l1 != id
}

// Allowed reports whether every topic that filterOrTopic can match is
// matched by at least one grant; a concrete topic is a filter without
// wildcards. It is conservative: a filter is allowed only when a single grant
// covers it. Invalid filters and filters starting with '$' are never allowed.
func Allowed(filterOrTopic string, grants []string) bool {
	if !mqtttopic.ValidFilter(filterOrTopic) || filterOrTopic[0] == '$' {
		return false
	}
	return anyCovers(grants, filterOrTopic)
}

// anyCovers reports whether a grant covers the (valid) filter or topic.
func anyCovers(grants []string, f string) bool {
	for _, g := range grants {
		if mqtttopic.Covers(g, f) {
			return true
		}
	}
	return false
}
