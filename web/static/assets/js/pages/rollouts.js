// Rollouts: GET /api/v1/rollouts, newest first, with each rollout's wave
// and its devices counted per state; a row links to the rollout's page
// (/rollouts/ID) with its waves, history, devices and actions. Live: an
// event or a device change reloads the list (rollout progress shows in
// device firmware and update events).
import * as api from '../api.js';
import {h, badge, table, when, debounce, errorBox} from '../dom.js';

export const title = 'Rollouts';
export const role = 'viewer';

export async function render(main, ctx) {
  const body = h('div', {id: 'rollouts-results'}, h('p', {class: 'loading'}, 'Loading…'));
  main.replaceChildren(h('div', {class: 'page-head'}, h('h1', null, 'Rollouts'),
    h('span', {class: 'muted'}, 'Staged firmware rollouts (ward rollout create)')), body);

  async function load() {
    let list;
    try {
      list = (await api.get('/api/v1/rollouts?limit=200')) || [];
    } catch (e) {
      if (e.status !== 401) body.replaceChildren(errorBox(e));
      return;
    }
    if (!list.length) {
      body.replaceChildren(h('p', {class: 'empty'}, 'No rollout yet. Publish firmware (ward firmware publish), then start one with ward rollout create.'));
      return;
    }
    body.replaceChildren(table(`${list.length} rollout${list.length === 1 ? '' : 's'}, newest first`,
      ['Rollout', 'Release', 'Status', 'Wave', 'Progress', ['Failed', 'num'], 'Started', 'Updated'], list, (r) => {
        const total = Object.values(r.devices || {}).reduce((n, x) => n + x, 0);
        const done = (r.devices || {}).installed || 0;
        return [
          h('a', {href: `/rollouts/${encodeURIComponent(r.id)}`, class: 'mono'}, r.id),
          `${r.model} → ${r.version}`,
          h('span', null, badge('st', r.status), r.reason ? h('div', {class: 'muted small'}, r.reason) : null),
          `${r.wave} of ${(r.waves || []).length}`,
          progress(`Rollout ${r.id}: ${done} of ${total} devices installed`, done, total),
          {td: String((r.devices || {}).failed || 0), class: 'num'},
          when(r.created_at), when(r.updated_at)];
      }, {rowProps: (r) => ({dataset: {rollout: r.id}})}));
  }

  await load();
  const refresh = debounce(load, 1000);
  for (const t of ['event', 'device', 'reset']) ctx.on(t, refresh);
  return refresh.cancel;
}

/** progress is a labelled <progress> with the count beside it. */
export function progress(label, done, total) {
  return h('span', {class: 'progress'}, h('progress', {value: done, max: Math.max(total, 1), 'aria-label': label}), ` ${done}/${total}`);
}
