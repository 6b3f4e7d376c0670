// The API client. The session (user, role, CSRF token) lives in this
// module's memory only: never in localStorage, never in a URL. The session
// cookie itself is HttpOnly: scripts cannot read it. Every unsafe request
// carries X-CSRF-Token; a 401 sends the user to /login?next=<path>.

let session = null;

/** APIError is a refused or failed API request. */
export class APIError extends Error {
  constructor(status, message, requestID) {
    super(message);
    this.status = status;
    this.requestID = requestID;
  }
}

/** current returns the signed-in session, or null. */
export function current() { return session; }

/** can reports whether the signed-in role may do what needs role min. */
export function can(min) {
  const rank = {viewer: 1, operator: 2, admin: 3};
  return !!session && (rank[session.role] || 0) >= (rank[min] || 99);
}

/** loadSession asks the server who is signed in (null when nobody). */
export async function loadSession() {
  const r = await fetch('/api/v1/session', {headers: {Accept: 'application/json'}, credentials: 'same-origin', cache: 'no-store'});
  session = r.ok ? await r.json() : null;
  return session;
}

/** login signs in with a password and keeps the session in memory. */
export async function login(username, password) {
  const {data} = await request('POST', '/api/v1/session', {username, password, client: 'browser'}, {quiet401: true});
  session = data;
  return session;
}

/** logout ends the session on the server. */
export async function logout() {
  try {
    await request('DELETE', '/api/v1/session', undefined, {quiet401: true});
  } finally {
    session = null;
  }
}

/**
 * request sends an API request and returns {data, headers}. JSON bodies in
 * and out; errors become APIError with the server's message.
 */
export async function request(method, path, body, {quiet401 = false} = {}) {
  const headers = {Accept: 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && session && session.csrf_token) headers['X-CSRF-Token'] = session.csrf_token;
  const r = await fetch(path, {method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body)});
  const ct = r.headers.get('Content-Type') || '';
  const data = r.status === 204 ? null : ct.includes('json') ? await r.json().catch(() => null) : await r.text();
  if (!r.ok) {
    if (r.status === 401 && !quiet401) {
      session = null;
      window.dispatchEvent(new CustomEvent('ward:signed-out'));
    }
    throw new APIError(r.status, (data && data.message) || `${r.status} ${r.statusText}`, data && data.request_id);
  }
  return {data, headers: r.headers};
}

/** get returns the JSON body of a GET. */
export async function get(path) { return (await request('GET', path)).data; }

/** post sends a JSON body (or none) and returns the JSON answer. */
export async function post(path, body) { return (await request('POST', path, body)).data; }

/**
 * nextLink returns the path of the Link rel="next" header, only when it is
 * an /api/ path of this origin (never followed elsewhere).
 */
export function nextLink(headers) {
  const link = headers.get('Link');
  if (!link) return null;
  for (const part of link.split(',')) {
    const m = part.match(/<([^>]+)>\s*;\s*rel="?next"?/);
    if (!m) continue;
    try {
      const u = new URL(m[1], location.origin);
      if (u.origin === location.origin && u.pathname.startsWith('/api/')) return u.pathname + u.search;
    } catch { /* ignore a malformed link */ }
  }
  return null;
}

/**
 * safeNext returns a same-origin path (with query) for ?next=, or "/":
 * nothing that could leave the console (//host, /\host, scheme:...).
 */
export function safeNext(n) {
  if (typeof n !== 'string' || !n.startsWith('/') || n.startsWith('//') || n.startsWith('/\\')) return '/';
  try {
    const u = new URL(n, location.origin);
    if (u.origin !== location.origin || u.pathname.startsWith('/api/') || u.pathname === '/login') return '/';
    return u.pathname + u.search;
  } catch {
    return '/';
  }
}
