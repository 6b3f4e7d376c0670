// Administration (admin only: the link is hidden from other roles and
// the API refuses them anyway). API tokens: GET/POST /api/v1/tokens,
// DELETE /api/v1/tokens/{id}; a new token's secret is shown exactly once,
// in a dialog with a copy button, and removed from the page when the
// dialog closes. Users: GET/POST /api/v1/users, POST
// /api/v1/users/{name}/password|disable|enable.
import * as api from '../api.js';
import {h, badge, table, when, errorBox, toast, confirmDialog} from '../dom.js';
import {field, select, formDialog} from '../forms.js';

export const title = 'Administration';
export const role = 'admin';

const ROLES = [['viewer', 'Viewer (read only)'], ['operator', 'Operator (act on devices and alerts)'], ['admin', 'Admin (everything, tokens and users)'],
  ['provisioning', 'Provisioning (register devices, enrollment tokens)']];
const TTLS = [['1h', '1 hour'], ['24h', '1 day'], ['720h', '30 days'], ['2160h', '90 days'], ['8760h', '1 year']];

export async function render(main) {
  const tokens = h('section', {class: 'panel', id: 'tokens', 'aria-labelledby': 'tokens-h'}, h('h2', {id: 'tokens-h'}, 'API tokens'), h('p', {class: 'loading'}, 'Loading…'));
  const users = h('section', {class: 'panel', id: 'users', 'aria-labelledby': 'users-h'}, h('h2', {id: 'users-h'}, 'Users'), h('p', {class: 'loading'}, 'Loading…'));
  main.replaceChildren(h('h1', null, 'Administration'), users, tokens);

  // Tokens.
  const tName = h('input', {type: 'text', id: 't-name', name: 'name', required: true, maxlength: 128, autocomplete: 'off'});
  const tRole = select('t-role', ROLES, 'viewer');
  const tTTL = select('t-ttl', TTLS, '2160h');
  const tForm = h('form', {class: 'filters', id: 'token-form', 'aria-label': 'Create an API token', onsubmit: (e) => { e.preventDefault(); createToken(); }},
    field('t-name', 'Name', tName), field('t-role', 'Role', tRole), field('t-ttl', 'Expires after', tTTL), h('button', {type: 'submit', id: 'token-create'}, 'Create token'));
  const tList = h('div', {id: 'tokens-list'});

  async function loadTokens() {
    try {
      const list = (await api.get('/api/v1/tokens')) || [];
      const now = Date.now();
      const state = (t) => (t.revoked_at ? 'revoked' : t.expires_at && Date.parse(t.expires_at) < now ? 'expired' : 'active');
      list.sort((a, b) => (state(a) === 'active' ? 0 : 1) - (state(b) === 'active' ? 0 : 1) || (b.created_at || '').localeCompare(a.created_at || ''));
      tList.replaceChildren(list.length ? table(`${list.length} API token${list.length === 1 ? '' : 's'}, active first`, ['ID', 'Name', 'Role', 'State', 'Created', 'Expires', 'Action'], list, (t) => [
        h('span', {class: 'mono'}, t.id), t.name || '—', t.role, badge('st', state(t)),
        when(t.created_at), when(t.expires_at),
        state(t) === 'active' ? h('button', {type: 'button', class: 'danger', dataset: {revoke: t.id}, 'aria-label': `Revoke token ${t.name || t.id}`, onclick: () => revokeToken(t)}, 'Revoke') : ''],
      {rowProps: (t) => ({dataset: {token: t.id}})}) : h('p', {class: 'empty'}, 'No API token.'));
    } catch (e) {
      if (e.status !== 401) tList.replaceChildren(errorBox(e));
    }
  }

  async function createToken() {
    if (!tName.value.trim()) {
      toast('Give the token a name.', true);
      tName.focus();
      return;
    }
    let res;
    try {
      res = await api.post('/api/v1/tokens', {name: tName.value.trim(), role: tRole.value, ttl: tTTL.value});
    } catch (e) {
      if (e.status !== 401) toast(`Create token failed: ${e.message}`, true);
      return;
    }
    tName.value = '';
    await loadTokens();
    await showSecret(res);
    document.getElementById('token-create')?.focus();
  }

  async function revokeToken(t) {
    if (!(await confirmDialog(`Revoke token ${t.name || t.id}?`, `Anything using it (role ${t.role}) is refused from now on. This cannot be undone.`, 'Revoke'))) return;
    try {
      await api.request('DELETE', `/api/v1/tokens/${encodeURIComponent(t.id)}`);
      toast(`Token ${t.name || t.id} revoked.`);
    } catch (e) {
      if (e.status !== 401) toast(`Revoke failed: ${e.message}`, true);
    }
    await loadTokens();
  }

  // Users.
  const uName = h('input', {type: 'text', id: 'u-name', name: 'name', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false'});
  const uRole = select('u-role', ROLES, 'viewer');
  const uPass = h('input', {type: 'password', id: 'u-password', name: 'password', required: true, autocomplete: 'new-password'});
  const uForm = h('form', {class: 'filters', id: 'user-form', 'aria-label': 'Add a user', onsubmit: (e) => { e.preventDefault(); addUser(); }},
    field('u-name', 'User name', uName), field('u-role', 'Role', uRole), field('u-password', 'Initial password', uPass), h('button', {type: 'submit', id: 'user-add'}, 'Add user'));
  const uList = h('div', {id: 'users-list'});

  async function loadUsers() {
    try {
      const list = (await api.get('/api/v1/users')) || [];
      const me = api.current().user;
      const state = (u) => (u.disabled_at ? 'disabled' : u.locked_until && Date.parse(u.locked_until) > Date.now() ? 'locked' : 'active');
      uList.replaceChildren(list.length ? table(`${list.length} user${list.length === 1 ? '' : 's'}`, ['User', 'Role', 'State', ['Failed sign-ins', 'num'], 'Created', 'Password changed', 'Actions'], list, (u) => [
        h('span', {class: 'mono'}, u.name, u.name === me ? h('span', {class: 'muted'}, ' (you)') : null), u.role, badge('st', state(u)),
        {td: String(u.failed_logins || 0), class: 'num'}, when(u.created_at), when(u.password_changed_at),
        h('div', {class: 'actions'},
          u.name === me ? null : u.disabled_at
            ? h('button', {type: 'button', class: 'secondary', dataset: {enable: u.name}, 'aria-label': `Enable ${u.name}`, onclick: () => userAction(u, 'enable')}, 'Enable')
            : h('button', {type: 'button', class: 'danger', dataset: {disable: u.name}, 'aria-label': `Disable ${u.name}`, onclick: () => userAction(u, 'disable')}, 'Disable'),
          h('button', {type: 'button', class: 'secondary', dataset: {password: u.name}, 'aria-label': `Reset password of ${u.name}`, onclick: () => resetPassword(u, u.name === me)}, 'Reset password'))],
      {rowProps: (u) => ({dataset: {user: u.name}})}) : h('p', {class: 'empty'}, 'No user account yet.'));
    } catch (e) {
      if (e.status !== 401) uList.replaceChildren(errorBox(e));
    }
  }

  async function addUser() {
    try {
      await api.post('/api/v1/users', {name: uName.value.trim(), role: uRole.value, password: uPass.value});
      toast(`User ${uName.value.trim()} added.`);
      uName.value = '';
      uPass.value = '';
    } catch (e) {
      if (e.status !== 401) toast(`Add user failed: ${e.message}`, true);
      return;
    }
    await loadUsers();
  }

  async function userAction(u, what) {
    const q = what === 'disable'
      ? `${u.name} can no longer sign in; their sessions end now. Their history is kept and an admin can enable them again.`
      : `${u.name} may sign in again with their password.`;
    const verb = what === 'disable' ? 'Disable' : 'Enable';
    if (!(await confirmDialog(`${verb} ${u.name}?`, q, verb))) return;
    try {
      await api.post(`/api/v1/users/${encodeURIComponent(u.name)}/${what}`);
      toast(`${u.name} ${what}d.`);
    } catch (e) {
      if (e.status !== 401) toast(`${verb} failed: ${e.message}`, true);
    }
    await loadUsers();
  }

  async function resetPassword(u, self) {
    const pw = h('input', {type: 'password', id: 'pw-new', name: 'password', required: true, autocomplete: 'new-password'});
    const cur = self ? h('input', {type: 'password', id: 'pw-current', name: 'current_password', required: true, autocomplete: 'current-password'}) : null;
    const done = await formDialog('password-dialog', `New password for ${u.name}`, [
      h('p', {class: 'muted'}, self ? 'Your other sessions end.' : `${u.name}'s sessions end; give them the new password by a separate channel.`),
      cur ? field('pw-current', 'Your current password', cur) : null,
      field('pw-new', 'New password', pw)], 'Set password', () => api.post(`/api/v1/users/${encodeURIComponent(u.name)}/password`,
      self ? {password: pw.value, current_password: cur.value} : {password: pw.value}).then(() => true));
    if (done) {
      toast(`Password of ${u.name} changed.`);
      await loadUsers();
    }
  }

  users.replaceChildren(h('h2', {id: 'users-h'}, 'Users'), uForm, uList);
  tokens.replaceChildren(h('h2', {id: 'tokens-h'}, 'API tokens'), tForm, tList);
  await Promise.all([loadUsers(), loadTokens()]);
}

/**
 * showSecret shows a new token's secret once: a read-only field, a copy
 * button, and Done. Closing the dialog removes it, secret and all.
 */
function showSecret(res) {
  const out = h('input', {type: 'text', id: 'new-token', readonly: true, value: res.token, class: 'mono secret', spellcheck: 'false', autocomplete: 'off'});
  const status = h('span', {class: 'muted', role: 'status', id: 'copy-status'});
  const copy = h('button', {type: 'button', id: 'copy-token', onclick: async () => {
    out.select();
    try {
      await navigator.clipboard.writeText(out.value);
      status.textContent = 'Copied.';
    } catch {
      status.textContent = 'Copy refused by the browser: the text is selected, press Ctrl+C.';
    }
  }}, 'Copy');
  const done = h('button', {type: 'button', class: 'secondary', id: 'token-done'}, 'Done');
  const dlg = h('dialog', {id: 'token-dialog', 'aria-labelledby': 'token-dialog-h', 'aria-describedby': 'token-dialog-text'},
    h('h2', {id: 'token-dialog-h'}, `Token ${res.name || res.id} (${res.role})`),
    h('p', {id: 'token-dialog-text'}, `Copy it now: it is shown only this once and Ward keeps only its hash. It expires ${when(res.expires_at)}.`),
    field('new-token', 'Token', out), h('div', {class: 'dialog-actions'}, status, copy, done));
  document.body.append(dlg);
  return new Promise((resolve) => {
    done.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { out.value = ''; dlg.remove(); resolve(); }, {once: true});
    dlg.showModal();
    copy.focus();
  });
}
