// Live updates from GET /api/v1/stream (server-sent events: alert, device
// and event messages with JSON data; reset when the server cannot replay
// what was missed). Pages subscribe with on(type, fn) and unsubscribe with
// the function it returns; the router unsubscribes a page's handlers when
// the page is left.
//
// EventSource reconnects by itself after a dropped connection, sending
// Last-Event-ID so that the server replays what was missed. When the
// stream cannot be opened at all (no such route yet, a 401, a 429), the
// browser gives up: this module retries with exponential backoff (1 s to
// 60 s) and, once connected again, tells pages to reload (reset), since
// events may have been lost in between.

const handlers = new Map(); // type -> Set of functions
let es = null;
let retry = 1000;
let timer = null;
let reconnected = false;

/** on subscribes fn(data, type) to one event type and returns the unsubscribe function. */
export function on(type, fn) {
  if (!handlers.has(type)) handlers.set(type, new Set());
  handlers.get(type).add(fn);
  return () => handlers.get(type).delete(fn);
}

function dispatch(type, data) {
  for (const fn of handlers.get(type) || []) {
    try { fn(data, type); } catch (e) { console.error('live handler', e); }
  }
}

function setState(state, text) {
  const el = document.getElementById('live');
  if (!el) return;
  el.className = `live ${state}`;
  el.textContent = text;
  el.title = state === 'on' ? 'Receiving live updates' : 'Live updates unavailable; retrying';
}

/** start opens the stream (once). */
export function start() {
  if (es || timer) return;
  connect();
}

/** stop closes the stream (on sign-out). */
export function stop() {
  clearTimeout(timer);
  timer = null;
  if (es) es.close();
  es = null;
  setState('offline', 'Offline');
}

function connect() {
  timer = null;
  setState('connecting', 'Connecting…');
  es = new EventSource('/api/v1/stream');
  es.onopen = () => {
    retry = 1000;
    setState('on', 'Live');
    if (reconnected) dispatch('reset', null);
    reconnected = false;
  };
  for (const type of ['alert', 'device', 'event', 'reset']) {
    es.addEventListener(type, (e) => {
      let data = null;
      try { data = e.data ? JSON.parse(e.data) : null; } catch { return; }
      dispatch(type, data);
    });
  }
  es.onerror = () => {
    if (es.readyState === EventSource.CONNECTING) {
      setState('connecting', 'Reconnecting…');
      return; // the browser retries and sends Last-Event-ID
    }
    es.close();
    es = null;
    reconnected = true;
    setState('offline', 'Offline');
    timer = setTimeout(connect, retry);
    retry = Math.min(retry * 2, 60000);
  };
}
