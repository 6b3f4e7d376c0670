// Administration: not built yet (the page-module pattern is in router.js).
import {h} from '../dom.js';

export const title = 'Administration';
export const role = 'admin';

export async function render(main) {
  main.replaceChildren(h('h1', null, title),
    h('p', {class: 'empty'}, 'API tokens and user accounts: this page is being built. The same data is available from the ward CLI and /api/v1.'));
}
