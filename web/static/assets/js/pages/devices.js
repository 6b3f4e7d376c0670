// Devices: GET /api/v1/devices with q, status, model, tag, connected,
// limit and after (the server pages by key and answers Link rel="next").
// The filters live in the URL (?status=...), so a view can be bookmarked
// and the back button works. CSV export walks every page of the current
// filter and builds the file in the browser.
import * as api from '../api.js';
import {h, badge, table, ago, debounce, errorBox, toast} from '../dom.js';

export const title = 'Devices';

const PAGE = 50;
const FILTERS = ['q', 'status', 'model', 'tag', 'connected'];

export async function render(main, ctx) {
  const q = ctx.query;
  const field = (id, label, control) => h('div', {class: 'field'}, h('label', {for: id}, label), control);
  const search = h('input', {type: 'search', id: 'f-q', name: 'q', value: q.get('q') || '', placeholder: 'ID, model or tag'});
  const status = h('select', {id: 'f-status', name: 'status'}, h('option', {value: ''}, 'Any'),
    ['active', 'pending', 'quarantined', 'revoked', 'retired'].map((s) => h('option', {value: s, selected: q.get('status') === s}, s)));
  const model = h('input', {type: 'text', id: 'f-model', name: 'model', value: q.get('model') || ''});
  const tag = h('input', {type: 'text', id: 'f-tag', name: 'tag', value: q.get('tag') || ''});
  const connected = h('select', {id: 'f-connected', name: 'connected'}, h('option', {value: ''}, 'Any'),
    h('option', {value: 'true', selected: q.get('connected') === 'true'}, 'Connected'),
    h('option', {value: 'false', selected: q.get('connected') === 'false'}, 'Not connected'));
  const form = h('form', {class: 'filters', role: 'search', 'aria-label': 'Filter devices', onsubmit: (e) => { e.preventDefault(); apply(); }},
    field('f-q', 'Search', search), field('f-status', 'Status', status), field('f-model', 'Model', model),
    field('f-tag', 'Tag', tag), field('f-connected', 'Connection', connected), h('button', {type: 'submit'}, 'Apply'));
  const exportBtn = h('button', {type: 'button', class: 'secondary', id: 'export-csv', onclick: () => exportCSV(filterQuery(), exportBtn)}, 'Export CSV');
  const results = h('div', {id: 'devices-results'});
  main.replaceChildren(h('div', {class: 'page-head'}, h('h1', null, 'Devices'), exportBtn), form, results);

  function filterQuery() {
    const p = new URLSearchParams();
    for (const [k, el] of [['q', search], ['status', status], ['model', model], ['tag', tag], ['connected', connected]]) {
      if (el.value.trim()) p.set(k, el.value.trim());
    }
    return p;
  }
  function apply() {
    const p = filterQuery();
    history.replaceState(null, '', `/devices${p.toString() ? '?' + p : ''}`);
    cursors = [''];
    load();
  }
  for (const el of [status, connected]) el.addEventListener('change', apply);

  let cursors = [''];
  async function load() {
    const p = filterQuery();
    p.set('limit', String(PAGE));
    const after = cursors[cursors.length - 1];
    if (after) p.set('after', after);
    try {
      const {data, headers} = await api.request('GET', `/api/v1/devices?${p}`);
      const next = api.nextLink(headers);
      results.replaceChildren(view(data || [], next));
    } catch (e) {
      if (e.status !== 401) results.replaceChildren(errorBox(e));
    }
  }
  function view(devs, next) {
    if (!devs.length) return h('p', {class: 'empty'}, 'No device matches these filters.');
    const t = table(`Devices${cursors.length > 1 ? `, page ${cursors.length}` : ''}`,
      ['Device', 'Model', 'Firmware', 'Status', 'Connection', 'Last seen', 'Tags'], devs, (d) => [
        h('a', {href: `/devices/${encodeURIComponent(d.id)}`, class: 'mono'}, d.id),
        d.model, d.firmware || '—', badge('st', d.status),
        d.connected_sessions > 0 ? badge('st', 'connected') : badge('st', 'offline'),
        ago(d.last_seen), (d.tags || []).join(', ')],
      {rowProps: (d) => ({dataset: {device: d.id}})});
    const prev = h('button', {type: 'button', class: 'ghost', disabled: cursors.length < 2,
      onclick: () => { cursors.pop(); load(); }}, 'Previous page');
    const nextBtn = h('button', {type: 'button', class: 'ghost', disabled: !next,
      onclick: () => { cursors.push(new URL(next, location.origin).searchParams.get('after') || ''); load(); }}, 'Next page');
    return h('div', null, t, h('nav', {class: 'pager', 'aria-label': 'Pages'}, prev, nextBtn));
  }

  await load();
  const refresh = debounce(load, 1000);
  ctx.on('device', refresh);
  ctx.on('reset', refresh);
  return refresh.cancel;
}

/**
 * csvCell quotes a CSV cell (RFC 4180) and defuses spreadsheet formulas:
 * a cell starting with = + - @ (or a tab or carriage return) gets a
 * leading apostrophe, so that opening the export runs nothing.
 */
export function csvCell(v) {
  let s = v == null ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

async function exportCSV(filter, btn) {
  btn.disabled = true;
  const rows = [['id', 'model', 'firmware', 'status', 'connected_sessions', 'last_seen', 'tags', 'created_at']];
  try {
    const p = new URLSearchParams(filter);
    p.set('limit', '1000');
    let path = `/api/v1/devices?${p}`;
    for (let pages = 0; path && pages < 10000; pages++) {
      const {data, headers} = await api.request('GET', path);
      for (const d of data || []) {
        rows.push([d.id, d.model, d.firmware, d.status, d.connected_sessions, d.last_seen || '', (d.tags || []).join(' '), d.created_at]);
      }
      path = api.nextLink(headers);
      btn.textContent = `Exporting… ${rows.length - 1}`;
    }
    const csv = rows.map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
    const url = URL.createObjectURL(new Blob([csv], {type: 'text/csv'}));
    const a = h('a', {href: url, download: `ward-devices-${new Date().toISOString().slice(0, 10)}.csv`, hidden: true});
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    toast(`Exported ${rows.length - 1} device${rows.length === 2 ? "" : "s"}.`);
  } catch (e) {
    if (e.status !== 401) toast(`Export failed: ${e.message}`, true);
  } finally {
    btn.disabled = false;
    btn.textContent = 'Export CSV';
  }
}
