// Network sensor: not built yet (the page-module pattern is in router.js).
import {h} from '../dom.js';

export const title = 'Network sensor';
export const role = 'viewer';

export async function render(main) {
  main.replaceChildren(h('h1', null, title),
    h('p', {class: 'empty'}, 'Hosts seen by the network sensor: this page is being built. The same data is available from the ward CLI and /api/v1.'));
}
