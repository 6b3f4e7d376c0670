// Vulnerabilities: GET /api/v1/vulnerabilities (each device's known
// vulnerabilities, matched from its firmware's SBOM), shown per model and
// firmware and per device, known exploited (CISA KEV) first, then by
// severity and CVSS. Feeds (GET /api/v1/feeds) say how fresh the data is.
// Live: a device change (new firmware, enrolment) reloads the page.
import * as api from '../api.js';
import {h, badge, table, when, debounce, errorBox} from '../dom.js';
import {field, select} from '../forms.js';

export const title = 'Vulnerabilities';
export const role = 'viewer';

const SEV = {critical: 5, high: 4, medium: 3, low: 2, none: 1, unknown: 0};

export async function render(main, ctx) {
  const model = select('v-model', [['', 'Every model']], ctx.query.get('model') || '');
  const kevOnly = h('input', {type: 'checkbox', id: 'v-kev', name: 'kev', checked: ctx.query.get('kev') === 'true'});
  const feeds = h('p', {class: 'muted', id: 'vuln-feeds'});
  const body = h('div', {id: 'vuln-results', 'aria-live': 'polite'}, h('p', {class: 'loading'}, 'Loading…'));
  main.replaceChildren(h('div', {class: 'page-head'}, h('h1', null, 'Vulnerabilities'), feeds),
    h('form', {class: 'filters', role: 'search', 'aria-label': 'Filter vulnerabilities', onsubmit: (e) => e.preventDefault()},
      field('v-model', 'Model', model), h('div', {class: 'field check'}, h('label', {for: 'v-kev'}, kevOnly, ' Known exploited (KEV) only'))),
    body);
  let data = [];
  const apply = () => {
    const p = new URLSearchParams();
    if (model.value) p.set('model', model.value);
    if (kevOnly.checked) p.set('kev', 'true');
    history.replaceState(null, '', `/vulnerabilities${p.toString() ? '?' + p : ''}`);
    show();
  };
  model.addEventListener('change', apply);
  kevOnly.addEventListener('change', apply);

  async function load() {
    try {
      const [ex, fs] = await Promise.all([api.get('/api/v1/vulnerabilities'), api.get('/api/v1/feeds').catch(() => [])]);
      data = ex || [];
      feeds.replaceChildren((fs || []).length ? `Feeds: ${fs.map((f) => `${f.name} (${f.records} record${f.records === 1 ? "" : "s"}, ${when(f.imported_at)})`).join(', ')}` : 'No feed imported yet (ward vuln import).');
    } catch (e) {
      if (e.status !== 401) body.replaceChildren(errorBox(e));
      return;
    }
    const models = [...new Set(data.map((d) => d.model))].sort();
    const want = model.value;
    model.replaceChildren(h('option', {value: ''}, 'Every model'), models.map((m) => h('option', {value: m, selected: m === want}, m)));
    show();
  }

  function show() {
    const devs = data.filter((d) => !model.value || d.model === model.value)
      .map((d) => ({...d, vulnerabilities: (d.vulnerabilities || []).filter((v) => !kevOnly.checked || v.kev)}));
    if (!data.length) {
      body.replaceChildren(h('p', {class: 'empty'}, 'No device registered yet.'));
      return;
    }
    body.replaceChildren(byModel(devs), byDevice(devs));
  }

  await load();
  const refresh = debounce(load, 1000);
  ctx.on('device', refresh);
  ctx.on('reset', refresh);
  return refresh.cancel;
}

function byVuln(a, b) {
  return (b.kev - a.kev) || (SEV[b.severity] || 0) - (SEV[a.severity] || 0) || (b.cvss || 0) - (a.cvss || 0) || a.id.localeCompare(b.id);
}

/** byModel: one row per vulnerability of a model's firmware, KEV first. */
function byModel(devs) {
  const groups = new Map(); // model|firmware -> {model, firmware, devices: [], vulns: Map}
  for (const d of devs) {
    const k = `${d.model}|${d.firmware}`;
    if (!groups.has(k)) groups.set(k, {model: d.model, firmware: d.firmware, sbom: d.sbom, devices: [], vulns: new Map()});
    const g = groups.get(k);
    g.devices.push(d.device);
    for (const v of d.vulnerabilities) g.vulns.set(`${v.id}|${v.package}`, v);
  }
  const list = [...groups.values()].sort((a, b) => a.model.localeCompare(b.model) || String(a.firmware).localeCompare(String(b.firmware)));
  return h('section', {class: 'panel', 'aria-labelledby': 'by-model-h'}, h('h2', {id: 'by-model-h'}, 'By model and firmware'),
    list.map((g) => {
      const vs = [...g.vulns.values()].sort(byVuln);
      const cap = `${g.model} firmware ${g.firmware || 'unknown'}: ${vs.length} vulnerabilit${vs.length === 1 ? 'y' : 'ies'} on ${g.devices.length} device${g.devices.length === 1 ? '' : 's'}`;
      if (!g.sbom) return h('p', {class: 'empty', dataset: {model: g.model}}, `${g.model} firmware ${g.firmware || 'unknown'} (${g.devices.length} devices): no SBOM imported, so exposure is unknown.`);
      if (!vs.length) return h('p', {class: 'empty', dataset: {model: g.model}}, `${g.model} firmware ${g.firmware || 'unknown'} (${g.devices.length} devices): no known vulnerability.`);
      return h('div', {class: 'group', dataset: {model: g.model}}, table(cap, ['Known exploited', 'Severity', ['CVSS', 'num'], 'Vulnerability', 'Package', 'Fixed in', 'Devices'], vs, (v) => [
        v.kev ? h('span', {class: 'badge kev'}, `KEV${v.kev_cve ? ' ' + v.kev_cve : ''}`) : 'no',
        badge('sev', v.severity), {td: v.cvss ? v.cvss.toFixed(1) : '—', class: 'num'},
        h('div', null, h('span', {class: 'mono'}, v.id), v.summary ? h('div', {class: 'muted'}, v.summary) : null),
        h('span', {class: 'mono'}, `${v.package} ${v.installed}`), v.fixed || 'no fix', devLinks(g.devices)],
      {rowProps: (v) => ({dataset: {vuln: v.id}})}));
    }));
}

/** byDevice: one row per device, most exposed first. */
function byDevice(devs) {
  const rows = devs.map((d) => {
    const c = {kev: 0, critical: 0, high: 0, medium: 0, low: 0};
    for (const v of d.vulnerabilities) {
      if (v.kev) c.kev++;
      if (c[v.severity] !== undefined) c[v.severity]++;
    }
    return {...d, c};
  }).sort((a, b) => b.c.kev - a.c.kev || b.c.critical - a.c.critical || b.c.high - a.c.high || b.c.medium - a.c.medium || b.vulnerabilities.length - a.vulnerabilities.length
    || String(a.device).localeCompare(String(b.device)));
  return h('section', {class: 'panel', 'aria-labelledby': 'by-device-h'}, h('h2', {id: 'by-device-h'}, 'By device'),
    table(`${rows.length} device${rows.length === 1 ? '' : 's'}, most exposed first`, ['Device', 'Model', 'Firmware', 'SBOM', ['KEV', 'num'], ['Critical', 'num'], ['High', 'num'], ['Medium', 'num'], ['Low', 'num'], ['Total', 'num']], rows, (d) => [
      h('a', {href: `/devices/${encodeURIComponent(d.device)}`, class: 'mono'}, d.device), d.model, d.firmware || '—', d.sbom ? 'yes' : 'no',
      {td: String(d.c.kev), class: d.c.kev ? 'num kev-count' : 'num'}, {td: String(d.c.critical), class: 'num'}, {td: String(d.c.high), class: 'num'},
      {td: String(d.c.medium), class: 'num'}, {td: String(d.c.low), class: 'num'}, {td: String(d.vulnerabilities.length), class: 'num'}],
    {rowProps: (d) => ({dataset: {device: d.device}})}));
}

function devLinks(ids) {
  const shown = ids.slice(0, 4);
  return [shown.map((id, i) => [i ? ', ' : '', h('a', {href: `/devices/${encodeURIComponent(id)}`, class: 'mono'}, id)]),
    ids.length > 4 ? h('span', {class: 'muted'}, ` and ${ids.length - 4} more`) : null];
}
