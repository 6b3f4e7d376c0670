// Alert triage: GET /api/v1/alerts filtered by state, severity, rule,
// device and time on the server (so that the limit counts matching
// alerts, not the newest of every kind); select many, then
// acknowledge or clear them (operator), one POST per alert, each its own
// audited action. Live: a new or changed alert reloads the table and is
// highlighted.
import * as api from '../api.js';
import {h, badge, table, when, debounce, errorBox, toast} from '../dom.js';

export const title = 'Alerts';

const SINCE = {'1h': 3600, '24h': 86400, '7d': 7 * 86400, '': 0};

export async function render(main, ctx) {
  const q = ctx.query;
  const field = (id, label, control) => h('div', {class: 'field'}, h('label', {for: id}, label), control);
  const opts = (cur, list) => list.map(([v, l]) => h('option', {value: v, selected: cur === v}, l));
  const state = h('select', {id: 'f-state', name: 'state'}, opts(q.get('state') ?? 'active',
    [['active', 'Active (open or acknowledged)'], ['open', 'Open'], ['acknowledged', 'Acknowledged'], ['cleared', 'Cleared'], ['', 'Any']]));
  const severity = h('select', {id: 'f-severity', name: 'severity'}, opts(q.get('severity') || '',
    [['', 'Any'], ['critical', 'Critical'], ['high', 'High or worse'], ['medium', 'Medium or worse'], ['low', 'Low or worse']]));
  const rule = h('input', {type: 'text', id: 'f-rule', name: 'rule', value: q.get('rule') || ''});
  const device = h('input', {type: 'text', id: 'f-device', name: 'device', value: q.get('device') || ''});
  const since = h('select', {id: 'f-since', name: 'since'}, opts(q.get('since') || '', [['', 'Any time'], ['1h', 'Last hour'], ['24h', 'Last 24 hours'], ['7d', 'Last 7 days']]));
  const form = h('form', {class: 'filters', role: 'search', 'aria-label': 'Filter alerts', onsubmit: (e) => { e.preventDefault(); apply(); }},
    field('f-state', 'State', state), field('f-severity', 'Severity', severity), field('f-rule', 'Rule', rule),
    field('f-device', 'Device', device), field('f-since', 'Raised', since), h('button', {type: 'submit'}, 'Apply'));
  for (const el of [state, severity, since]) el.addEventListener('change', () => apply());

  const selected = new Set();
  const count = h('span', {class: 'muted', id: 'selected-count', 'aria-live': 'polite'}, 'None selected');
  const ackBtn = h('button', {type: 'button', id: 'bulk-ack', disabled: true, onclick: () => bulk('ack', 'acknowledged')}, 'Acknowledge');
  const clearBtn = h('button', {type: 'button', id: 'bulk-clear', class: 'secondary', disabled: true, onclick: () => bulk('clear', 'cleared')}, 'Clear');
  const bar = api.can('operator') ? h('div', {class: 'actions', role: 'group', 'aria-label': 'Bulk actions'}, count, ackBtn, clearBtn) : h('span');
  const results = h('div', {id: 'alerts-results'});
  main.replaceChildren(h('div', {class: 'page-head'}, h('h1', null, 'Alerts'), bar), form, results);

  let known = null; // alert id -> updated_at, to highlight what changed
  let shown = [];

  function apply() {
    const p = new URLSearchParams();
    for (const [k, el] of [['state', state], ['severity', severity], ['rule', rule], ['device', device], ['since', since]]) {
      if (el.value.trim() !== (k === 'state' ? 'active' : '')) p.set(k, el.value.trim());
    }
    history.replaceState(null, '', `/alerts${p.toString() ? '?' + p : ''}`);
    selected.clear();
    load();
  }
  function sync() {
    for (const id of [...selected]) if (!shown.some((a) => a.id === id)) selected.delete(id);
    count.textContent = selected.size ? `${selected.size} selected` : 'None selected';
    ackBtn.disabled = ![...selected].some((id) => shown.find((a) => a.id === id)?.state === 'open');
    clearBtn.disabled = ![...selected].some((id) => shown.find((a) => a.id === id)?.state !== 'cleared');
  }

  async function load() {
    const p = new URLSearchParams({limit: '1000'});
    if (state.value) p.set('state', state.value);
    if (rule.value.trim()) p.set('rule', rule.value.trim());
    if (device.value.trim()) p.set('device', device.value.trim());
    if (severity.value) p.set('severity', severity.value);
    if (SINCE[since.value]) p.set('since', new Date(Date.now() - SINCE[since.value] * 1000).toISOString());
    let list;
    try {
      list = (await api.get(`/api/v1/alerts?${p}`)) || [];
    } catch (e) {
      if (e.status !== 401) results.replaceChildren(errorBox(e));
      return;
    }
    shown = list;
    const fresh = new Set(known ? shown.filter((a) => known.get(a.id) !== a.updated_at).map((a) => a.id) : []);
    known = new Map(list.map((a) => [a.id, a.updated_at]));
    sync();
    if (!shown.length) {
      results.replaceChildren(h('p', {class: 'empty'}, 'No alert matches these filters.'));
      return;
    }
    const all = h('input', {type: 'checkbox', id: 'select-all', 'aria-label': 'Select every alert shown', onchange: (e) => {
      for (const a of shown) e.target.checked ? selected.add(a.id) : selected.delete(a.id);
      for (const cb of results.querySelectorAll('input[data-alert]')) cb.checked = e.target.checked;
      sync();
    }});
    const t = table(`${shown.length} alert${shown.length === 1 ? '' : 's'}, newest first`,
      [[api.can('operator') ? all : 'Select', 'select'], 'Severity', 'State', 'Alert', 'Device', 'Raised', 'Updated', ['Count', 'num']], shown, (a) => [
        api.can('operator') ? h('input', {type: 'checkbox', dataset: {alert: a.id}, checked: selected.has(a.id),
          'aria-label': `Select alert ${a.title || a.rule} on ${a.device}`,
          onchange: (e) => { e.target.checked ? selected.add(a.id) : selected.delete(a.id); sync(); }}) : '',
        badge('sev', a.severity), badge('st', a.state),
        h('div', null, h('strong', null, a.title || a.rule), h('div', {class: 'muted mono'}, a.rule, a.evidence && a.evidence.metric ? ` · ${a.evidence.metric} ${a.evidence.value} > ${a.evidence.threshold}` : '')),
        h('a', {href: `/devices/${encodeURIComponent(a.device)}`, class: 'mono'}, a.device),
        when(a.raised_at), when(a.updated_at), {td: String(a.count || 1), class: 'num'}],
      {rowProps: (a) => ({class: fresh.has(a.id) ? 'fresh' : null, dataset: {alertId: a.id}})});
    results.replaceChildren(t);
  }

  async function bulk(action, word) {
    const ids = [...selected].filter((id) => {
      const a = shown.find((x) => x.id === id);
      return a && (action === 'ack' ? a.state === 'open' : a.state !== 'cleared');
    });
    ackBtn.disabled = clearBtn.disabled = true;
    let ok = 0;
    const failed = [];
    for (const id of ids) {
      try {
        await api.post(`/api/v1/alerts/${encodeURIComponent(id)}/${action}`);
        ok++;
      } catch (e) {
        if (e.status === 401) return;
        failed.push(`${id}: ${e.message}`);
      }
    }
    selected.clear();
    toast(failed.length ? `${ok} ${word}; ${failed.length} failed (${failed[0]})` : `${ok} alert${ok === 1 ? '' : 's'} ${word}.`, failed.length > 0);
    await load();
  }

  await load();
  const refresh = debounce(load, 500);
  ctx.on('alert', refresh);
  ctx.on('reset', refresh);
  return refresh.cancel;
}

