// Sign-in page: username and password to POST /api/v1/session, then back
// to ?next= (a same-origin path only).
import * as api from '../api.js';
import {h} from '../dom.js';

export const title = 'Sign in';

export async function render(main, ctx) {
  if (await api.loadSession().catch(() => null)) {
    ctx.navigate(api.safeNext(ctx.query.get('next')), {replace: true});
    return;
  }
  const err = h('p', {class: 'error', role: 'alert', id: 'login-error', hidden: true});
  const user = h('input', {type: 'text', id: 'username', name: 'username', autocomplete: 'username', required: true, autofocus: true, autocapitalize: 'none', spellcheck: 'false'});
  const pass = h('input', {type: 'password', id: 'password', name: 'password', autocomplete: 'current-password', required: true});
  const submit = h('button', {type: 'submit', id: 'login-submit'}, 'Sign in');
  const form = h('form', {id: 'login-form', 'aria-describedby': 'login-error', onsubmit: async (e) => {
    e.preventDefault();
    err.hidden = true;
    submit.disabled = true;
    try {
      await api.login(user.value.trim(), pass.value);
      pass.value = '';
      ctx.navigate(api.safeNext(ctx.query.get('next')), {replace: true});
    } catch (e2) {
      err.textContent = e2.status === 401 ? 'Wrong username or password.' : e2.message;
      err.hidden = false;
      pass.select();
    } finally {
      submit.disabled = false;
    }
  }},
  h('div', {class: 'field'}, h('label', {for: 'username'}, 'Username'), user),
  h('div', {class: 'field'}, h('label', {for: 'password'}, 'Password'), pass),
  err, submit);
  main.replaceChildren(h('section', {class: 'login'},
    h('div', {class: 'panel'},
      h('h1', null, h('img', {src: '/assets/img/ward.svg', alt: '', width: 28, height: 28}), 'Sign in to Ward'),
      form,
      h('p', {class: 'muted'}, 'Accounts are created by an administrator (ward user add).'))));
  user.focus();
}
