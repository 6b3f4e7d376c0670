package server

import (
	"fmt"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/notify"
)

// newDispatcher builds the alert sinks of the config's notify section
// (nil when none is configured). MQTT sinks publish on Ward's own broker.
func (s *Server) newDispatcher() (*notify.Dispatcher, error) {
	if len(s.cfg.Notify) == 0 {
		return nil, nil
	}
	nc, err := notify.ParseConfig(s.cfg.Notify, false)
	if err != nil {
		return nil, fmt.Errorf("config notify: %w", err)
	}
	var routes []notify.Route
	for _, w := range nc.Webhooks {
		o, err := w.Options(nil, api.Version)
		if err != nil {
			return nil, fmt.Errorf("config notify: %w", err)
		}
		sink, err := notify.NewWebhook(o)
		if err != nil {
			return nil, fmt.Errorf("config notify webhook %s: %w", w.Name, err)
		}
		routes = append(routes, w.Route(sink))
	}
	for _, c := range nc.Syslog {
		sink, err := notify.NewSyslog(c.Options(nil))
		if err != nil {
			return nil, fmt.Errorf("config notify syslog %s: %w", c.Name, err)
		}
		routes = append(routes, c.Route(sink))
	}
	for _, c := range nc.MQTT {
		sink, err := notify.NewMQTT(c.Options(s.gw))
		if err != nil {
			return nil, fmt.Errorf("config notify mqtt %s: %w", c.Name, err)
		}
		routes = append(routes, c.Route(sink))
	}
	return notify.New(notify.Options{Routes: routes, DeadLetterDir: nc.DeadLetterDir, QueueSize: nc.QueueSize,
		Logger: s.log, Metrics: s.registry, Now: s.opts.Now})
}
