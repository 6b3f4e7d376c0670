// Fleet overview: GET /api/v1/overview, refreshed when the stream reports
// a change (at most every 2 s).
import * as api from '../api.js';
import {h, badge, when, debounce, errorBox} from '../dom.js';

export const title = 'Overview';

const SEVERITIES = ['critical', 'high', 'medium', 'low'];
const STATUSES = ['active', 'pending', 'quarantined', 'revoked', 'retired'];

export async function render(main, ctx) {
  const body = h('div', {id: 'overview'});
  main.replaceChildren(h('div', {class: 'page-head'}, h('h1', null, 'Fleet overview'),
    h('span', {class: 'muted', id: 'overview-time'})), body);
  const load = async () => {
    try {
      const ov = await api.get('/api/v1/overview');
      body.replaceChildren(...cards(ov));
      document.getElementById('overview-time').textContent = `Updated ${when(ov.generated_at)}`;
    } catch (e) {
      if (e.status !== 401) body.replaceChildren(errorBox(e));
    }
  };
  await load();
  const refresh = debounce(load, 2000);
  for (const t of ['alert', 'device', 'reset']) ctx.on(t, refresh);
  return refresh.cancel;
}

function card(heading, ...content) {
  return h('section', {class: 'card', 'aria-label': heading}, h('h2', null, heading), ...content);
}

function cards(ov) {
  const d = ov.devices;
  const a = ov.alerts;
  const active = SEVERITIES.reduce((n, s) => n + (a.active_by_severity[s] || 0), 0);
  const out = [h('div', {class: 'cards'},
    card('Devices',
      h('div', {class: 'big', id: 'ov-devices'}, String(d.total), h('small', null, 'registered')),
      h('ul', {class: 'rows'}, STATUSES.map((s) => h('li', null, badge('st', s),
        h('a', {href: `/devices?status=${s}`, 'aria-label': `${d.by_status[s] || 0} ${s} devices`}, String(d.by_status[s] || 0)))))),
    card('Connected now',
      h('div', {class: 'big', id: 'ov-connected'}, String(d.connected), h('small', null, `of ${d.by_status.active || 0} active`)),
      h('div', {class: 'meter', role: 'img', 'aria-label': `${pct(d.connected, d.by_status.active)} % of active devices connected`},
        h('span', {class: `w${Math.round(pct(d.connected, d.by_status.active) / 5) * 5}`})),
      h('p', null, h('a', {href: '/devices?connected=true'}, 'Show connected devices'))),
    card('Open alerts',
      h('div', {class: 'big', id: 'ov-alerts'}, String(active), h('small', null, `active, ${a.by_state.open} not acknowledged`)),
      h('ul', {class: 'rows'}, SEVERITIES.map((s) => h('li', null, badge('sev', s),
        h('a', {href: `/alerts?severity=${s}`, 'aria-label': `${a.active_by_severity[s] || 0} active ${s} alerts`}, String(a.active_by_severity[s] || 0)))))),
  )];
  const c = ov.compliance;
  const lower = h('div', {class: 'cards'});
  if (c) {
    lower.append(card('Compliance',
      c.last_audit ? h('p', {class: 'muted'}, `Last audit ${when(c.last_audit)}`) : h('p', {class: 'empty'}, 'No audit has run yet.'),
      h('ul', {class: 'rows'}, c.standards.map((s) => h('li', null,
        h('span', null, s.name), h('strong', null, `${s.score.toFixed(1)} %`, h('span', {class: 'muted'}, ` (${s.passed}/${s.assessed})`))))),
      h('p', null, h('a', {href: '/audit'}, 'Findings and reports'))));
    const v = c.vulnerabilities;
    lower.append(card('Vulnerability exposure',
      h('div', {class: 'big', id: 'ov-vulnerable'}, String(v.vulnerable_devices), h('small', null, `of ${v.devices} devices vulnerable`)),
      h('ul', {class: 'rows'},
        h('li', null, h('span', null, 'Known exploited (CISA KEV)'), h('strong', {id: 'ov-kev'}, `${v.kev} advisories, ${v.kev_devices} devices`)),
        ['critical', 'high', 'medium', 'low'].map((s) => h('li', null, badge('sev', s), String((v.advisories || {})[s] || 0))),
        h('li', null, h('span', null, 'Devices without an SBOM'), String(v.without_sbom))),
      h('p', null, h('a', {href: '/vulnerabilities'}, 'Vulnerabilities by model and device'))));
  }
  if (ov.rollouts) {
    const r = ov.rollouts;
    lower.append(card('Rollouts in progress',
      h('div', {class: 'big'}, String(r.in_progress)),
      r.active.length ? h('ul', {class: 'rows'}, r.active.map((x) => h('li', null,
        h('span', null, `${x.model} → ${x.version}`, h('span', {class: 'muted'}, ` wave ${x.wave}/${x.waves}`)), badge('st', x.status))))
        : h('p', {class: 'empty'}, 'None.'),
      h('p', null, h('a', {href: '/rollouts'}, 'All rollouts'))));
  }
  out.push(lower);
  return out;
}

function pct(n, of) { return of ? Math.min(100, Math.round((100 * n) / of)) : 0; }
