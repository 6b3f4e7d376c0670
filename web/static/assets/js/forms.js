// Form helpers for the pages that act (compliance, rollouts, admin): a
// labelled field, a select from [value, label] pairs, and a modal form
// dialog built per use. Like dom.js, nothing here parses HTML.
import {h} from './dom.js';

/** field wraps a control with its <label for>. */
export function field(id, label, control, hint) {
  const hintEl = hint ? h('span', {class: 'hint', id: `${id}-hint`}, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', `${id}-hint`);
  return h('div', {class: 'field'}, h('label', {for: id}, label), control, hintEl);
}

/** select builds a <select> from [value, label] pairs with cur selected. */
export function select(id, pairs, cur, props = {}) {
  return h('select', {id, name: id, ...props}, pairs.map(([v, l]) => h('option', {value: v, selected: cur === v}, l)));
}

/**
 * formDialog shows a modal <dialog> holding a form: title, the fields
 * (nodes), and Cancel / verb buttons. submit(form) runs on the verb; it
 * may throw to keep the dialog open with the error shown in it (role
 * alert). The promise resolves with submit's result, or null on cancel.
 * The dialog is removed from the page when it closes, so that nothing
 * typed into it (a password) stays in the document.
 */
export function formDialog(id, title, fields, verb, submit, {danger = false} = {}) {
  const err = h('p', {class: 'error', role: 'alert', id: `${id}-error`, hidden: true});
  const ok = h('button', {type: 'submit', id: `${id}-ok`, class: danger ? 'danger' : null}, verb);
  const cancel = h('button', {type: 'button', class: 'ghost', id: `${id}-cancel`}, 'Cancel');
  const form = h('form', {class: 'dialog-form', novalidate: false}, fields, err, h('div', {class: 'dialog-actions'}, cancel, ok));
  const dlg = h('dialog', {id, 'aria-labelledby': `${id}-title`}, h('h2', {id: `${id}-title`}, title), form);
  document.body.append(dlg);
  return new Promise((resolve) => {
    let result = null;
    cancel.addEventListener('click', () => dlg.close());
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.hidden = true;
      ok.disabled = true;
      try {
        result = await submit(form);
        dlg.close();
      } catch (e2) {
        err.textContent = e2 && e2.message ? e2.message : String(e2);
        err.hidden = false;
      } finally {
        ok.disabled = false;
      }
    });
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); }, {once: true});
    dlg.showModal();
    const first = form.querySelector('input, select, textarea');
    (first || cancel).focus();
  });
}

/** dateInput is an <input type=date> set days from today (UTC). */
export function dateInput(id, days, props = {}) {
  const d = new Date(Date.now() + days * 86400000);
  const min = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  return h('input', {type: 'date', id, name: id, value: d.toISOString().slice(0, 10), min, required: true, ...props});
}
