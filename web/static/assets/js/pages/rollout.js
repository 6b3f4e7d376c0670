// One rollout: GET /api/v1/rollouts/{id} with its waves (cumulative
// percentages, devices per state in each), history and one page of its
// devices (more on demand). Operators pause, resume or abort it (POST
// /api/v1/rollouts/{id}/pause|resume|abort) after a confirmation. Live:
// an event or a device change reloads it.
import * as api from '../api.js';
import {h, badge, table, when, debounce, errorBox, toast, confirmDialog} from '../dom.js';
import {progress} from './rollouts.js';

export const title = 'Rollout';
export const role = 'viewer';

const STATES = ['pending', 'downloading', 'installing', 'installed', 'failed', 'skipped', 'aborted'];

export async function render(main, ctx) {
  const id = ctx.params.id;
  const enc = encodeURIComponent(id);
  const head = h('div', {class: 'page-head'}, h('h1', null, 'Rollout ', h('span', {class: 'mono'}, id)));
  const body = h('div', {id: 'rollout-detail'}, h('p', {class: 'loading'}, 'Loading…'));
  main.replaceChildren(h('p', null, h('a', {href: '/rollouts'}, '← All rollouts')), head, body);
  let devices = [];
  let next = '';

  async function load() {
    let d;
    try {
      d = await api.get(`/api/v1/rollouts/${enc}?limit=100`);
    } catch (e) {
      if (e.status !== 401) body.replaceChildren(errorBox(e.status === 404 ? new Error(`No rollout ${id}.`) : e));
      return;
    }
    devices = d.device_list || [];
    next = d.next || '';
    document.title = `Rollout ${d.model} ${d.version} · Ward`;
    head.replaceChildren(h('h1', null, `Rollout of ${d.model} ${d.version} `, badge('st', d.status)), actions(d));
    body.replaceChildren(summary(d), waves(d), devicesSection(), history(d));
  }

  function actions(d) {
    if (!api.can('operator')) return h('span');
    const act = async (path, verb, question) => {
      if (!(await confirmDialog(`${verb} the rollout of ${d.model} ${d.version}?`, question, verb))) return;
      try {
        await api.post(`/api/v1/rollouts/${enc}/${path}`);
        toast(`Rollout ${{pause: 'paused', resume: 'resumed', abort: 'aborted'}[path]}.`);
        await load();
      } catch (e) {
        if (e.status !== 401) toast(`${verb} failed: ${e.message}`, true);
      }
    };
    const b = [];
    if (d.status === 'running') {
      b.push(h('button', {type: 'button', id: 'act-pause', onclick: () => act('pause', 'Pause',
        'No new orders go out and no wave starts until it is resumed. Devices already updating finish and report.')}, 'Pause'));
    }
    if (d.status === 'paused' || d.status === 'halted') {
      b.push(h('button', {type: 'button', id: 'act-resume', onclick: () => act('resume', 'Resume',
        'The rollout runs again; its gates are checked at once and halt it again if they still fail.')}, 'Resume'));
    }
    if (!['aborted', 'completed'].includes(d.status)) {
      b.push(h('button', {type: 'button', class: 'danger', id: 'act-abort', onclick: () => act('abort', 'Abort',
        'The rollout ends for good: its pending devices are aborted and get no order. This cannot be undone.')}, 'Abort'));
    }
    return h('div', {class: 'actions'}, b);
  }

  function summary(d) {
    const total = Object.values(d.devices || {}).reduce((n, x) => n + x, 0);
    return h('section', {class: 'panel', 'aria-labelledby': 'ro-summary-h'}, h('h2', {id: 'ro-summary-h'}, 'Summary'),
      h('dl', {class: 'kv'},
        h('dt', null, 'Status'), h('dd', {id: 'ro-status'}, badge('st', d.status), d.reason ? ` ${d.reason}` : ''),
        h('dt', null, 'Wave'), h('dd', null, `${d.wave} of ${(d.waves || []).length} (started ${when(d.wave_started_at)})`),
        h('dt', null, 'Waves'), h('dd', null, (d.waves || []).map((p) => `${p} %`).join(' → ')),
        h('dt', null, 'Gates'), h('dd', null, `halt when more than ${d.max_failure} % of a wave fails${d.halt_on_alerts && d.halt_on_alerts !== 'none' ? `, or on a ${d.halt_on_alerts} or worse alert` : ''}; soak ${d.soak}`),
        h('dt', null, 'Devices'), h('dd', null, progress(`${d.devices.installed || 0} of ${total} devices installed`, d.devices.installed || 0, total)),
        h('dt', null, 'Created'), h('dd', null, `${when(d.created_at)} by ${d.created_by}`)));
  }

  function waves(d) {
    const ws = d.wave_counts || [];
    return h('section', {class: 'panel', 'aria-labelledby': 'ro-waves-h'}, h('h2', {id: 'ro-waves-h'}, 'Waves'),
      ws.length ? table('Each wave\'s devices by state', ['Wave', ['Share', 'num'], 'Progress', ...STATES.map((s) => [s, 'num'])], ws, (w) => [
        w.wave === d.wave && !['completed', 'aborted'].includes(d.status) ? h('strong', null, `${w.wave} (current)`) : String(w.wave),
        {td: `${w.percent} %`, class: 'num'},
        progress(`Wave ${w.wave}: ${(w.states || {}).installed || 0} of ${w.total} installed`, (w.states || {}).installed || 0, w.total),
        ...STATES.map((s) => ({td: String((w.states || {})[s] || 0), class: 'num'}))],
      {rowProps: (w) => ({dataset: {wave: String(w.wave)}})}) : h('p', {class: 'empty'}, 'No wave planned.'));
  }

  function devicesSection() {
    const more = next ? h('button', {type: 'button', class: 'ghost', id: 'ro-more', onclick: async () => {
      try {
        const d = await api.get(`/api/v1/rollouts/${enc}?limit=100&after=${encodeURIComponent(next)}`);
        devices = devices.concat(d.device_list || []);
        next = d.next || '';
        document.getElementById('ro-devices')?.replaceWith(devicesSection());
      } catch (e) {
        if (e.status !== 401) toast(e.message, true);
      }
    }}, 'Show more devices') : null;
    return h('section', {class: 'panel', id: 'ro-devices', 'aria-labelledby': 'ro-devices-h'}, h('h2', {id: 'ro-devices-h'}, 'Devices'),
      devices.length ? table(`${devices.length} device${devices.length === 1 ? '' : 's'}${next ? ' (more to show)' : ''}`, ['Device', 'Wave', 'State', 'From', 'Ordered', 'Installed', 'Reason'], devices, (x) => [
        h('a', {href: `/devices/${encodeURIComponent(x.device)}`, class: 'mono'}, x.device), String(x.wave), badge('st', x.state),
        x.from_version || '—', when(x.ordered_at), when(x.installed_at), x.reason || ''],
      {rowProps: (x) => ({dataset: {device: x.device}})}) : h('p', {class: 'empty'}, 'No device in this rollout.'),
      more ? h('div', {class: 'pager'}, more) : null);
  }

  function history(d) {
    const hs = [...(d.history || [])].reverse();
    return h('section', {class: 'panel', 'aria-labelledby': 'ro-history-h'}, h('h2', {id: 'ro-history-h'}, 'History'),
      hs.length ? table('Transitions, newest first', ['Time', 'Action', 'By', 'Status', 'Wave', 'Reason'], hs, (x) => [
        when(x.time), x.action, x.actor, badge('st', x.status), String(x.wave), x.reason || ''])
        : h('p', {class: 'empty'}, 'No transition yet.'));
  }

  await load();
  const refresh = debounce(load, 1000);
  for (const t of ['event', 'device', 'reset']) ctx.on(t, refresh);
  return refresh.cancel;
}
