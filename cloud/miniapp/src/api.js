// api.js - the core's HTTP API: bearer token, one refresh on 401, errors as
// ApiError {status, code, message} that screens turn into plain sentences.
//
// The access token lives in memory only; the refresh token (when the server
// gives one) in sessionStorage, so a reload inside the same tab signs in again
// without new init data, and closing the tab forgets it.

const REFRESH_KEY = 'fitgate.refresh';
export const session = { token: null, expiresMs: 0, user: null };
const listeners = { signedOut: [] };

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message || code || `HTTP ${status}`);
    this.status = status; // 0: no connection
    this.code = code || '';
    this.body = body || {};
  }
  // The endpoint is not there (yet): the screen says "not available yet".
  get missing() { return this.status === 404 || this.status === 405 || this.status === 501; }
}

export function onSignedOut(fn) { listeners.signedOut.push(fn); }

function storeRefresh(rt) {
  try {
    if (rt) sessionStorage.setItem(REFRESH_KEY, rt);
    else sessionStorage.removeItem(REFRESH_KEY);
  } catch (_) { /* storage disabled: the session lasts as long as the token */ }
}
function loadRefresh() {
  try { return sessionStorage.getItem(REFRESH_KEY); } catch (_) { return null; }
}

// Take a session reply: {token, expires_ms, user, refresh_token?}.
export function adoptSession(body) {
  session.token = body.token || body.access_token || null;
  session.expiresMs = body.expires_ms || 0;
  if (body.user) session.user = body.user;
  if (body.refresh_token) storeRefresh(body.refresh_token);
  return body;
}

export function clearSession() {
  session.token = null;
  session.expiresMs = 0;
  session.user = null;
  storeRefresh(null);
}

export function authHeaders() {
  return session.token ? { Authorization: 'Bearer ' + session.token } : {};
}

async function parse(res) {
  const type = res.headers.get('Content-Type') || '';
  if (res.status === 204) return null;
  if (type.includes('json')) return res.json();
  return res.text();
}

async function raw(method, path, body, opts = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: {
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...authHeaders(),
        ...(opts.headers || {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      credentials: 'same-origin',
      cache: 'no-store',
      signal: opts.signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'offline', 'no connection');
  }
  let data = null;
  try { data = await parse(res); } catch (_) { data = null; }
  if (!res.ok) {
    const d = data && typeof data === 'object' ? data : {};
    throw new ApiError(res.status, d.error || d.code, d.message, d);
  }
  return data;
}

let refreshing = null;
// Trade the refresh token for a new access token (once at a time).
export function refresh() {
  const rt = loadRefresh();
  if (!rt) return Promise.resolve(false);
  refreshing ||= raw('POST', '/api/v1/session/refresh', { refresh_token: rt })
    .then((b) => { adoptSession(b); return true; })
    .catch((e) => { if (e.status === 400 || e.status === 401) storeRefresh(null); return false; })
    .finally(() => { refreshing = null; });
  return refreshing;
}

// request('GET', '/api/v1/workouts') -> parsed JSON; throws ApiError.
export async function request(method, path, body, opts) {
  try {
    return await raw(method, path, body, opts);
  } catch (e) {
    if (e.status === 401 && !opts?.noRefresh && path !== '/api/v1/session/refresh') {
      if (await refresh()) return raw(method, path, body, opts);
      clearSession();
      listeners.signedOut.forEach((fn) => fn(e));
    }
    throw e;
  }
}

export const get = (p, o) => request('GET', p, undefined, o);
export const post = (p, b, o) => request('POST', p, b ?? {}, o);
export const put = (p, b, o) => request('PUT', p, b ?? {}, o);
export const patch = (p, b, o) => request('PATCH', p, b ?? {}, o);
export const del = (p, b, o) => request('DELETE', p, b, o);

// Lists come as a bare array or as {items|<name>: [...], next_cursor?}.
export function items(body, name) {
  if (Array.isArray(body)) return body;
  if (!body || typeof body !== 'object') return [];
  return body[name] || body.items || body.data || [];
}

export { loadRefresh as hasRefreshToken };
