// DOM helpers. Data is only ever set as text (textContent, text nodes) or
// as attribute values; nothing here parses HTML. Event handlers are
// functions given by code, never strings.

/**
 * h creates an element: h('a', {href: '/x', class: 'y', onclick: fn}, 'text', child).
 * Props: class, text, dataset, on<event> (a function), true (bare
 * attribute), false/null (left out), anything else (attribute value).
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k.startsWith('on')) throw new Error(`h: ${k} must be a function`);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** append adds children (nodes, strings, numbers, nested arrays; null skipped). */
export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** badge is a coloured label that always carries its word. */
export function badge(kind, word) {
  return h('span', {class: `badge ${kind}-${String(word).toLowerCase().replace(/[^a-z0-9-]/g, '-')}`}, String(word));
}

const dtf = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'medium'});

/** when formats an RFC 3339 time for people ("" for none). */
export function when(t) {
  if (!t || t.startsWith('0001-')) return '—';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : dtf.format(d);
}

/** ago says how long ago t was, coarsely. */
export function ago(t) {
  if (!t || t.startsWith('0001-')) return 'never';
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/**
 * table builds an accessible table: caption, th scope=col headers, one row
 * per item from cells(item) (an array of nodes or strings, or {td, class}).
 */
export function table(caption, headers, items, cells, {rowProps} = {}) {
  const head = h('tr', null, headers.map((x) => {
    const [label, cls] = Array.isArray(x) ? x : [x];
    return h('th', {scope: 'col', class: cls}, label);
  }));
  const body = h('tbody', null, items.map((it) => h('tr', rowProps ? rowProps(it) : null,
    cells(it).map((c) => (c && c.td !== undefined ? h('td', {class: c.class}, c.td) : h('td', null, c))))));
  return h('div', {class: 'table-wrap'}, h('table', null, h('caption', null, caption), h('thead', null, head), body));
}

/** debounce calls fn at most once per ms, after the last call. */
export function debounce(fn, ms) {
  let t = null;
  const d = (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
  d.cancel = () => clearTimeout(t);
  return d;
}

/** toast shows a short message in the polite live region. */
export function toast(msg, bad = false) {
  const el = document.getElementById('toast');
  el.textContent = msg;
  el.classList.toggle('bad', bad);
  el.hidden = false;
  clearTimeout(toast.t);
  toast.t = setTimeout(() => { el.hidden = true; }, 6000);
}

/**
 * confirmDialog asks in the shell's <dialog> and resolves true when the
 * user confirms. The dialog is modal: focus stays in it, Escape cancels.
 */
export function confirmDialog(title, text, action = 'Confirm') {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = action;
  dlg.returnValue = 'cancel';
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), {once: true});
    dlg.showModal();
    dlg.querySelector('button[value=cancel]').focus();
  });
}

/** errorBox renders an error for the page. */
export function errorBox(err) {
  const id = err && err.requestID ? ` (request ${err.requestID})` : '';
  return h('p', {class: 'error', role: 'alert'}, `${err && err.message ? err.message : String(err)}${id}`);
}
