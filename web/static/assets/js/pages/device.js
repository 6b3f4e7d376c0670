// Device detail: identity and certificates, live connection state, metric
// charts (uPlot) with the rules' static thresholds and the learned
// baseline band of the device's group, events, alerts, audit findings and
// firmware vulnerabilities; quarantine, release and revoke (operator) after
// a confirmation dialog. Live: any stream message about this device
// reloads the page's data.
import * as api from '../api.js';
import {h, badge, table, when, ago, debounce, errorBox, toast, confirmDialog} from '../dom.js';

export const title = 'Device';

const CHARTED = ['messages_sent', 'bytes_sent', 'authz_failures', 'connection_attempts', 'subscribe_denied', 'limit_hits', 'disconnects'];

export async function render(main, ctx) {
  const id = ctx.params.id;
  const head = h('div', {class: 'page-head'});
  const sections = h('div');
  main.replaceChildren(head, sections);
  const charts = [];

  async function load() {
    const enc = encodeURIComponent(id);
    const [dev, alerts, events] = await Promise.all([
      api.get(`/api/v1/devices/${enc}?events=50`),
      api.get(`/api/v1/alerts?device=${enc}&limit=100`).catch(() => []),
      api.get(`/api/v1/devices/${enc}/events?limit=50`).catch(() => []),
    ]);
    head.replaceChildren(h('h1', null, 'Device ', h('span', {class: 'mono'}, dev.id)), actions(dev));
    sections.replaceChildren(
      h('div', {class: 'grid2'}, identity(dev), connection(dev)),
      certificates(dev.certificates || []),
      h('section', {class: 'panel', 'aria-labelledby': 'metrics-h'}, h('h2', {id: 'metrics-h'}, 'Metrics, last 24 hours'), h('div', {id: 'charts'}, h('p', {class: 'loading'}, 'Loading charts…'))),
      alertsSection(alerts || []),
      eventsSection(events || []),
      h('section', {class: 'panel', id: 'findings', 'aria-labelledby': 'findings-h'}, h('h2', {id: 'findings-h'}, 'Audit findings'), h('p', {class: 'loading'}, 'Loading…')),
      h('section', {class: 'panel', id: 'firmware', 'aria-labelledby': 'firmware-h'}, h('h2', {id: 'firmware-h'}, 'Firmware and vulnerabilities'), h('p', {class: 'loading'}, 'Loading…')),
    );
    document.title = `${dev.id} · Ward`;
    loadCharts(dev).catch((e) => document.getElementById('charts')?.replaceChildren(errorBox(e)));
    loadFindings(dev).catch(() => document.getElementById('findings')?.replaceChildren(h('h2', null, 'Audit findings'), h('p', {class: 'empty'}, 'Not available.')));
    loadFirmware(dev).catch(() => document.getElementById('firmware')?.replaceChildren(h('h2', null, 'Firmware and vulnerabilities'), h('p', null, `Firmware ${dev.firmware || 'unknown'}; no vulnerability data.`)));
  }

  function actions(dev) {
    if (!api.can('operator')) return h('span');
    const act = async (what, path, body, question, verb) => {
      if (!(await confirmDialog(`${verb} ${dev.id}?`, question, verb))) return;
      try {
        await api.post(`/api/v1/devices/${encodeURIComponent(dev.id)}/${path}`, body);
        toast(`${dev.id}: ${what}.`);
        await load();
      } catch (e) {
        if (e.status !== 401) toast(`${verb} failed: ${e.message}`, true);
      }
    };
    const btns = [];
    if (dev.status === 'active') {
      btns.push(h('button', {type: 'button', class: 'danger', id: 'act-quarantine',
        onclick: () => act('quarantined', 'quarantine', {reason: 'quarantined from the console'},
          'The device is disconnected now and refused until it is released. Its certificate is kept.', 'Quarantine')}, 'Quarantine'));
    }
    if (dev.status === 'quarantined') {
      btns.push(h('button', {type: 'button', id: 'act-release', onclick: () => act('released', 'release', undefined,
        'The device may connect again with its certificate.', 'Release')}, 'Release'));
    }
    if (['active', 'quarantined', 'pending'].includes(dev.status)) {
      btns.push(h('button', {type: 'button', class: 'danger', id: 'act-revoke', onclick: () => act('revoked', 'revoke', {reason: 'revoked from the console'},
        'Its certificates are revoked (published in the CRL) and it is disconnected. Only a new enrollment token can bring it back.', 'Revoke')}, 'Revoke'));
    }
    return h('div', {class: 'actions'}, btns);
  }

  async function loadCharts(dev) {
    const box = document.getElementById('charts');
    const [points, profiles, baselines] = await Promise.all([
      api.get(`/api/v1/devices/${encodeURIComponent(dev.id)}/metrics?window=1m`),
      api.get('/api/v1/profiles').catch(() => []),
      api.get('/api/v1/baselines').catch(() => ({models: []})),
    ]);
    for (const c of charts.splice(0)) c.destroy();
    if (!points || !points.length) {
      box.replaceChildren(h('p', {class: 'empty'}, 'No metric windows recorded for this device in the last 24 hours.'));
      return;
    }
    const mine = (profiles || []).filter((p) => applies(p, dev));
    const metrics = CHARTED.filter((m) => points.some((p) => (p.values || {})[m]) || mine.some((p) => p.rules.some((r) => r.metric === m)));
    box.replaceChildren();
    if (!window.uPlot) {
      box.append(h('p', {class: 'error'}, 'The chart library did not load.'));
      return;
    }
    const xs = points.map((p) => Date.parse(p.start) / 1000);
    for (const m of metrics.slice(0, 6)) {
      const rules = mine.flatMap((p) => p.rules.filter((r) => r.metric === m && ['>', '>='].includes(r.comparison) && r.value > 0).map((r) => ({...r, profile: p.name})));
      const band = mine.map((p) => ((baselines.models || []).find((b) => b.group === `${p.name}|${dev.model}`) || {}).bands?.[m]).find(Boolean);
      const data = [xs, points.map((p) => (p.values || {})[m] || 0)];
      const series = [{}, {label: m.replaceAll('_', ' '), stroke: '#1d4ed8', width: 2, fill: 'rgba(29,78,216,0.08)'}];
      const notes = [];
      for (const r of rules.slice(0, 2)) {
        data.push(xs.map(() => r.value));
        series.push({label: `${r.name} ${r.comparison} ${r.value}`, stroke: '#b91c1c', width: 1.5, dash: [6, 4], points: {show: false}});
        notes.push(`Dashed red: rule ${r.name} (${r.severity}) fires when ${m} ${r.comparison} ${r.value} per window.`);
      }
      const bands = [];
      if (band) {
        data.push(xs.map(() => band.p999), xs.map(() => band.p50));
        const hi = series.length;
        series.push({label: 'baseline p99.9', stroke: 'rgba(21,128,61,0.7)', width: 1, points: {show: false}},
          {label: 'baseline median', stroke: 'rgba(21,128,61,0.5)', width: 1, dash: [2, 3], points: {show: false}});
        bands.push({series: [hi, hi + 1], fill: 'rgba(22,163,74,0.12)'});
        notes.push(`Green band: the ${dev.model} group's learned range (median to p99.9).`);
      }
      const holder = h('div', {class: 'chart', role: 'img', 'aria-label': `Chart of ${m.replaceAll('_', ' ')} per minute over the last 24 hours`});
      const fig = h('figure', {class: 'chart'}, h('h3', null, m.replaceAll('_', ' ')), holder, notes.map((n) => h('p', {class: 'legend-note'}, n)));
      box.append(fig);
      const width = Math.max(320, holder.clientWidth);
      const now = Date.now() / 1000;
      charts.push(new window.uPlot({width, height: 180, series, bands, scales: {x: {time: true, range: [now - 86400, now]}}, axes: [{}, {size: 60}],
        legend: {show: true}, cursor: {drag: {x: false, y: false}}}, data, holder));
    }
    if (!metrics.length) box.append(h('p', {class: 'empty'}, 'No activity to chart yet.'));
  }

  async function loadFindings(dev) {
    const box = document.getElementById('findings');
    const all = await api.get('/api/v1/audit/findings');
    const mine = (all || []).filter((f) => (f.resources || []).includes(`device:${dev.id}`) || (f.resources || []).includes(`model:${dev.model}`));
    box.replaceChildren(h('h2', {id: 'findings-h'}, 'Audit findings'), mine.length
      ? table('Open findings about this device or its model', ['Severity', 'Check', 'Finding', 'Since'], mine, (f) => [
        badge('sev', f.severity), h('span', {class: 'mono'}, f.check), [f.title, f.suppressed ? ' (suppressed)' : ''], when(f.first_seen)])
      : h('p', {class: 'empty'}, 'No open finding about this device.'));
  }

  async function loadFirmware(dev) {
    const box = document.getElementById('firmware');
    const ex = (await api.get(`/api/v1/vulnerabilities?device=${encodeURIComponent(dev.id)}`))[0] || {vulnerabilities: []};
    const vs = [...ex.vulnerabilities].sort((a, b) => (b.kev - a.kev) || (sevRank(b.severity) - sevRank(a.severity)));
    box.replaceChildren(h('h2', {id: 'firmware-h'}, 'Firmware and vulnerabilities'),
      h('p', null, `Firmware ${dev.firmware || 'unknown'} of model ${dev.model}. `, ex.sbom ? 'An SBOM is on file.' : 'No SBOM on file: vulnerabilities cannot be matched.'),
      ...[vs.length ? table('Known vulnerabilities, known-exploited first', ['Advisory', 'Severity', 'KEV', 'Package', 'Installed', 'Fixed in'], vs, (v) => [
        h('span', {class: 'mono'}, v.id), badge('sev', v.severity), v.kev ? h('strong', null, `Yes ${v.kev_cve || ''}`) : 'No',
        v.package, v.installed, v.fixed || '—']) : ex.sbom ? h('p', {class: 'empty'}, 'No known vulnerability.') : null].filter(Boolean));
  }

  await load();
  const refresh = debounce(() => load().catch((e) => { if (e.status !== 401) toast(e.message, true); }), 1000);
  const mineOnly = (d) => { if (d && (d.device_id === id || (d.alert && d.alert.device === id))) refresh(); };
  ctx.on('device', mineOnly);
  ctx.on('event', mineOnly);
  ctx.on('alert', mineOnly);
  ctx.on('reset', refresh);
  return () => { refresh.cancel(); for (const c of charts) c.destroy(); };
}

function identity(dev) {
  return h('section', {class: 'panel', 'aria-labelledby': 'identity-h'}, h('h2', {id: 'identity-h'}, 'Identity'),
    h('dl', {class: 'kv'},
      h('dt', null, 'Status'), h('dd', {id: 'dev-status'}, badge('st', dev.status), dev.quarantine ? ` (${dev.quarantine})` : ''),
      h('dt', null, 'Model'), h('dd', null, dev.model),
      h('dt', null, 'Firmware'), h('dd', null, dev.firmware || '—'),
      h('dt', null, 'Tags'), h('dd', null, (dev.tags || []).join(', ') || '—'),
      h('dt', null, 'Registered'), h('dd', null, when(dev.created_at)),
      h('dt', null, 'Revoked'), h('dd', null, when(dev.revoked_at))));
}

function connection(dev) {
  const on = dev.connected_sessions > 0;
  return h('section', {class: 'panel', 'aria-labelledby': 'conn-h'}, h('h2', {id: 'conn-h'}, 'Connection'),
    h('dl', {class: 'kv'},
      h('dt', null, 'Now'), h('dd', {id: 'dev-connection'}, on ? badge('st', 'connected') : badge('st', 'offline'),
        on ? ` ${dev.connected_sessions} session${dev.connected_sessions > 1 ? 's' : ''}` : ''),
      h('dt', null, 'Last seen'), h('dd', null, `${ago(dev.last_seen)} (${when(dev.last_seen)})`),
      h('dt', null, 'Re-enrolled'), h('dd', null, when(dev.reenrolled_at))));
}

function certificates(certs) {
  return h('section', {class: 'panel', 'aria-labelledby': 'certs-h'}, h('h2', {id: 'certs-h'}, 'Certificates'),
    certs.length ? table('Certificates issued to this device', ['Serial', 'Valid from', 'Valid until', 'State', 'SHA-256 fingerprint'], certs, (c) => [
      h('span', {class: 'mono'}, c.serial), when(c.not_before), when(c.not_after),
      c.revoked_at ? badge('st', 'revoked') : c.superseded_at ? badge('st', 'retired') : new Date(c.not_after) < new Date() ? badge('st', 'fail') : badge('st', 'active'),
      h('span', {class: 'mono'}, (c.fingerprint || '').slice(0, 23) + '…')])
      : h('p', {class: 'empty'}, 'No certificate issued yet (the device has not enrolled).'));
}

function alertsSection(alerts) {
  return h('section', {class: 'panel', 'aria-labelledby': 'dev-alerts-h'}, h('h2', {id: 'dev-alerts-h'}, 'Alerts'),
    alerts.length ? table('Alerts about this device, newest first', ['Severity', 'State', 'Alert', 'Raised'], alerts, (a) => [
      badge('sev', a.severity), badge('st', a.state), [a.title || a.rule, h('span', {class: 'muted'}, ` ${a.rule}`)], when(a.raised_at)])
      : h('p', {class: 'empty'}, 'No alert about this device.'));
}

function eventsSection(events) {
  return h('section', {class: 'panel', 'aria-labelledby': 'events-h'}, h('h2', {id: 'events-h'}, 'Events'),
    events.length ? table('Latest events', ['Time', 'Event', 'Detail'], events, (e) => [
      when(e.time), h('span', {class: 'mono'}, e.kind), Object.entries(e.detail || {}).map(([k, v]) => `${k}=${v}`).join(' ')])
      : h('p', {class: 'empty'}, 'No event recorded.'));
}

function applies(p, dev) {
  const t = p.targets || {};
  const any = (t.models || []).length + (t.tags || []).length + (t.devices || []).length;
  return !any || (t.models || []).includes(dev.model) || (t.devices || []).includes(dev.id) || (t.tags || []).some((x) => (dev.tags || []).includes(x));
}

function sevRank(s) { return {critical: 5, high: 4, medium: 3, low: 2}[s] || 1; }
