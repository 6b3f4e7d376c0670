// The router: one shell page, a page module per path. A page module
// exports:
//
//   export const title = 'Devices';          // document title
//   export const role = 'viewer';            // least role (default viewer; admin pages: 'admin')
//   export async function render(main, ctx)  // fill main; return a cleanup function (optional)
//
// ctx is {params, query, on, navigate}: params from the path pattern,
// query a URLSearchParams, on(type, fn) a live subscription that the
// router ends when the page is left, navigate(path) to move without a
// reload. To add a page: write js/pages/<name>.js, add its route below,
// add its path to web.go's pages (the server answers the shell there), and
// a nav link in index.html.

import * as api from './api.js';
import * as live from './live.js';
import {h, errorBox} from './dom.js';

const routes = [
  {path: /^\/$/, page: 'overview', nav: '/'},
  {path: /^\/login$/, page: 'login', public: true},
  {path: /^\/devices$/, page: 'devices', nav: '/devices'},
  {path: /^\/devices\/([^/]+)$/, page: 'device', nav: '/devices', params: ['id']},
  {path: /^\/alerts$/, page: 'alerts', nav: '/alerts'},
  {path: /^\/audit$/, page: 'audit', nav: '/audit'},
  {path: /^\/vulnerabilities$/, page: 'vulnerabilities', nav: '/vulnerabilities'},
  {path: /^\/sensor$/, page: 'sensor', nav: '/sensor'},
  {path: /^\/rollouts$/, page: 'rollouts', nav: '/rollouts'},
  {path: /^\/rollouts\/([^/]+)$/, page: 'rollout', nav: '/rollouts', params: ['id']},
  {path: /^\/admin$/, page: 'admin', nav: '/admin'},
];

let cleanup = [];
let seq = 0;

/** navigate moves to path without reloading the shell. */
export function navigate(path, {replace = false} = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  return render();
}

function leave() {
  for (const fn of cleanup) {
    try { fn(); } catch (e) { console.error('page cleanup', e); }
  }
  cleanup = [];
}

function match(pathname) {
  for (const r of routes) {
    const m = pathname.match(r.path);
    if (m) {
      const params = {};
      (r.params || []).forEach((p, i) => { params[p] = decodeURIComponent(m[i + 1]); });
      return {route: r, params};
    }
  }
  return null;
}

/** render shows the page for location. */
export async function render() {
  const mine = ++seq;
  leave();
  document.getElementById('toast').hidden = true;
  const main = document.getElementById('main');
  const found = match(location.pathname);
  if (!found) {
    main.replaceChildren(h('h1', null, 'Not found'), h('p', null, 'No console page at this address. ', h('a', {href: '/'}, 'Go to the overview.')));
    return;
  }
  const {route, params} = found;
  if (!route.public && !api.current()) {
    await api.loadSession().catch(() => null);
    if (mine !== seq) return;
    if (!api.current()) {
      toLogin();
      return;
    }
  }
  shell(route);
  let mod;
  try {
    mod = await import(`./pages/${route.page}.js`);
  } catch (e) {
    main.replaceChildren(errorBox(new Error(`Could not load the ${route.page} page: ${e.message}`)));
    return;
  }
  if (mine !== seq) return;
  document.title = `${mod.title} · Ward`;
  // Pages need the viewer role unless they say otherwise: the
  // provisioning role (factory lines) has no page.
  if (!route.public && !api.can(mod.role || 'viewer')) {
    main.replaceChildren(h('h1', null, mod.title), h('p', {class: 'error', role: 'alert'}, `Your role (${api.current().role}) may not see this page.`));
    return;
  }
  main.replaceChildren(h('p', {class: 'loading'}, 'Loading…'));
  const ctx = {
    params,
    query: new URLSearchParams(location.search),
    navigate,
    on: (type, fn) => { const off = live.on(type, fn); cleanup.push(off); return off; },
  };
  try {
    const done = await mod.render(main, ctx);
    if (typeof done === 'function') cleanup.push(done);
  } catch (e) {
    if (mine === seq && !(e instanceof api.APIError && e.status === 401)) main.replaceChildren(h('h1', null, mod.title), errorBox(e));
  }
}

/** shell updates the layout for the signed-in user and the current page. */
function shell(route) {
  const s = api.current();
  document.body.classList.toggle('signed-out', !s || !!route.public);
  if (s) {
    document.getElementById('who').textContent = `${s.user} (${s.role})`;
    for (const li of document.querySelectorAll('#nav [data-role]')) li.hidden = !api.can(li.dataset.role);
    if (api.can('viewer')) live.start();
  }
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === route.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/** toLogin sends the user to the login page, to come back here after. */
export function toLogin() {
  live.stop();
  const next = api.safeNext(location.pathname + location.search);
  const path = next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`;
  return navigate(path, {replace: true});
}

/** start wires links, history and sign-out, then renders. */
export function start() {
  document.addEventListener('click', (e) => {
    const a = e.target.closest('a[href]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (a.target || a.hasAttribute('download')) return;
    const u = new URL(a.href, location.href);
    if (u.origin !== location.origin || u.pathname.startsWith('/api/') || u.pathname.startsWith('/assets/')) return;
    if (u.pathname === location.pathname && u.hash) return;
    e.preventDefault();
    navigate(u.pathname + u.search);
    document.getElementById('main').focus();
  });
  window.addEventListener('popstate', render);
  window.addEventListener('ward:signed-out', () => { toLogin(); });
  document.getElementById('logout').addEventListener('click', async () => {
    live.stop(); // before the session ends: the server cuts the stream of an ended session
    await api.logout().catch(() => null);
    navigate('/login', {replace: true});
  });
  return render();
}
