// Network sensor: the hosts the sensor sees and what it says about them.
// GET /api/v1/network/devices gives each connected device's addresses (the
// map `ward ids --report` uses); the sensor's alerts (source netids, from
// GET /api/v1/alerts) add the hosts it could not map to a device
// ("net:<ip>", asset discovery) and tell MUD violations (traffic outside a
// device's manufacturer usage description) from behaviour (learned
// anomaly, scans, brute force, new devices and services). Live: an alert
// or a device change reloads the page.
import * as api from '../api.js';
import {h, badge, table, when, ago, debounce, errorBox} from '../dom.js';

export const title = 'Network';
export const role = 'viewer';

export async function render(main, ctx) {
  const hosts = h('section', {class: 'panel', id: 'sensor-hosts', 'aria-labelledby': 'hosts-h'}, h('h2', {id: 'hosts-h'}, 'Hosts'), h('p', {class: 'loading'}, 'Loading…'));
  const alerts = h('section', {class: 'panel', id: 'sensor-alerts', 'aria-labelledby': 'net-alerts-h'}, h('h2', {id: 'net-alerts-h'}, 'Sensor alerts'));
  main.replaceChildren(h('div', {class: 'page-head'}, h('h1', null, 'Network sensor'),
    h('span', {class: 'muted'}, 'Hosts on the network and the sensor\'s alerts (ward ids --report)')), hosts, alerts);

  async function load() {
    let nds;
    let as;
    try {
      [nds, as] = await Promise.all([api.get('/api/v1/network/devices'), api.get('/api/v1/alerts?state=active&limit=1000')]);
    } catch (e) {
      if (e.status !== 401) hosts.replaceChildren(h('h2', {id: 'hosts-h'}, 'Hosts'), errorBox(e));
      return;
    }
    const net = (as || []).filter((a) => a.source === 'netids');
    const byHost = new Map();
    const row = (key) => {
      if (!byHost.has(key)) byHost.set(key, {key, device: null, model: '', ips: [], mud: 0, behaviour: 0, active: 0, worst: '', last: ''});
      return byHost.get(key);
    };
    for (const nd of nds || []) Object.assign(row(nd.device), {device: nd.device, model: nd.model, ips: nd.ips || []});
    for (const a of net) {
      const r = row(a.device);
      if (a.device.startsWith('net:')) r.ips = [a.device.slice(4)];
      else if (!r.device) r.device = a.device;
      if (!a.state || a.state === 'cleared') continue;
      r.active++;
      kind(a) === 'MUD' ? r.mud++ : r.behaviour++;
      if (rank(a.severity) > rank(r.worst)) r.worst = a.severity;
      if (!r.last || a.raised_at > r.last) r.last = a.raised_at;
    }
    const list = [...byHost.values()].sort((a, b) => b.active - a.active || rank(b.worst) - rank(a.worst) || a.key.localeCompare(b.key));
    hosts.replaceChildren(h('h2', {id: 'hosts-h'}, `Hosts (${list.length})`), list.length
      ? table('Hosts, those with active alerts first', ['Host', 'Model', 'Addresses', 'Enrolled', ['MUD alerts', 'num'], ['Behaviour alerts', 'num'], 'Worst', 'Last alert'], list, (r) => [
        r.device ? h('a', {href: `/devices/${encodeURIComponent(r.device)}`, class: 'mono'}, r.device) : h('span', {class: 'mono'}, r.key),
        r.model || '—', h('span', {class: 'mono'}, r.ips.join(', ') || '—'),
        r.device ? badge('st', 'active') : badge('st', 'unknown host'),
        {td: String(r.mud), class: 'num'}, {td: String(r.behaviour), class: 'num'}, r.worst ? badge('sev', r.worst) : '—', r.last ? ago(r.last) : '—'],
      {rowProps: (r) => ({dataset: {host: r.key}})})
      : h('p', {class: 'empty'}, 'No host seen: no device is connected and the sensor has reported nothing.'));
    const active = net.filter((a) => a.state !== 'cleared').sort((a, b) => (b.raised_at || '').localeCompare(a.raised_at || ''));
    alerts.replaceChildren(h('h2', {id: 'net-alerts-h'}, `Sensor alerts (${active.length} active)`), active.length
      ? table('Active alerts from the network sensor, newest first', ['Severity', 'State', 'Kind', 'Alert', 'Host', 'Flow', 'Raised'], active.slice(0, 200), (a) => [
        badge('sev', a.severity), badge('st', a.state), kind(a),
        h('div', null, h('strong', null, a.title || a.rule), h('div', {class: 'muted mono'}, a.rule)),
        a.device.startsWith('net:') ? h('span', {class: 'mono'}, a.device) : h('a', {href: `/devices/${encodeURIComponent(a.device)}`, class: 'mono'}, a.device),
        h('span', {class: 'mono small'}, (a.evidence && a.evidence.detail && a.evidence.detail.flow) || '—'), when(a.raised_at)],
      {rowProps: (a) => ({dataset: {alertId: a.id}})})
      : h('p', {class: 'empty'}, 'No active alert from the network sensor.'));
  }

  await load();
  const refresh = debounce(load, 1000);
  for (const t of ['alert', 'device', 'reset']) ctx.on(t, refresh);
  return refresh.cancel;
}

function kind(a) { return /mud/i.test(a.rule) ? 'MUD' : 'Behaviour'; }

function rank(s) { return {critical: 4, high: 3, medium: 2, low: 1}[s] || 0; }
