// auth.js - signing in. Sources, in order:
//   1. Telegram init data (launch parameters) -> POST /api/v1/session
//   2. a one-time sign-in link (the WhatsApp bot answers "login" with
//      <web_base_url>/#/code/<token>; ?code= too) -> POST /api/v1/session/code
//      (the sign-in screen also offers a code by WhatsApp for a phone number)
//   3. the refresh token of this tab -> POST /api/v1/session/refresh
//   4. the session cookie -> GET /api/v1/me
// A session reply may ask for a second factor: {mfa_required: true,
// mfa_token, methods: [...]} (also as 401/403 second_factor_required); the
// sign-in screen then shows the challenge and calls finishMfa() - or, when
// the second factor is lost, sendRecoveryCode() + recoverByEmail().
import { adoptSession, ApiError, get, hasRefreshToken, post, refresh, session } from './api.js';

export const ENDPOINTS = {
  initData: '/api/v1/session',
  code: '/api/v1/session/code',
  waCode: '/api/v1/whatsapp/code', // {phone}: a code through WhatsApp's authentication template
  waSession: '/api/v1/whatsapp/session', // {phone, code}
  mfa: '/api/v1/session/mfa',
  mfaSend: '/api/v1/session/mfa/send',
  recoverySend: '/api/v1/session/recovery/send', // {mfa_token}: a code to the verified e-mail
  recovery: '/api/v1/session/recovery', // {mfa_token, code}: 2FA reset, a session
  me: '/api/v1/me',
};

function challengeOf(body) {
  if (!body || !(body.mfa_required || body.error === 'second_factor_required' || body.error === 'mfa_required')) return null;
  return {
    token: body.mfa_token || body.challenge || body.token || null,
    methods: body.methods || body.mfa_methods || ['totp', 'backup'],
    destination: body.destination || null,
  };
}

async function exchange(path, payload) {
  try {
    const body = await post(path, payload, { noRefresh: true });
    const ch = challengeOf(body);
    if (ch) return { challenge: ch };
    adoptSession(body);
    return { user: body.user || (await me()) };
  } catch (e) {
    const ch = e instanceof ApiError ? challengeOf(e.body) : null;
    if (ch) return { challenge: ch };
    throw e;
  }
}

async function me() {
  const u = await get(ENDPOINTS.me, { noRefresh: true });
  session.user = u?.user || u;
  return session.user;
}

export function linkCode() {
  const m = location.hash.match(/^#\/code\/([\w-]{4,128})$/);
  if (m) return m[1];
  return new URLSearchParams(location.search).get('code');
}

// After "sign out" the tab must not sign straight back in with the same
// launch parameters (a reload presents them again): remember which ones were
// signed out of until the user asks to sign in again. New launch parameters
// (the app opened again from the bot) sign in as usual.
const OUT_KEY = 'fitgate.signedOut';
export function markSignedOut(initData) {
  try {
    if (initData !== undefined) sessionStorage.setItem(OUT_KEY, initData || '-');
    else sessionStorage.removeItem(OUT_KEY);
  } catch (_) { /* storage disabled */ }
}
function wasSignedOut(initData) {
  try {
    const v = sessionStorage.getItem(OUT_KEY);
    return v !== null && (v === '-' || v === (initData || '-'));
  } catch (_) { return false; }
}

export async function signIn(tg, { force = false } = {}) {
  if (!force && wasSignedOut(tg.initDataRaw)) return {};
  markSignedOut();
  if (tg.initDataRaw) {
    try {
      return await exchange(ENDPOINTS.initData, { init_data: tg.initDataRaw });
    } catch (e) {
      // 409: this init data was used already (a reload): fall through to the
      // tab's refresh token or cookie. Anything else is a real failure.
      if (!(e instanceof ApiError) || e.status !== 409) throw e;
    }
  }
  const code = linkCode();
  if (code) {
    // The link works once: off the address bar whatever the answer.
    history.replaceState(null, '', location.pathname + '#/live');
    return exchange(ENDPOINTS.code, { code });
  }
  if (hasRefreshToken() && (await refresh())) return { user: await me() };
  try {
    return { user: await me() };
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return {};
    throw e;
  }
}

export const signInWithCode = (code) => exchange(ENDPOINTS.code, { code });

export const sendWhatsAppCode = (phone) => post(ENDPOINTS.waCode, { phone }, { noRefresh: true });
export const signInWithWhatsApp = (phone, code) => exchange(ENDPOINTS.waSession, { phone, code });

export const finishMfa = (challenge, method, code) =>
  exchange(ENDPOINTS.mfa, { mfa_token: challenge.token, method, code });

export const sendMfaCode = (challenge, method) =>
  post(ENDPOINTS.mfaSend, { mfa_token: challenge.token, method }, { noRefresh: true });

// Lost the second factor: a recovery code by e-mail resets two-step
// verification (every other session is signed out) and signs in.
export const sendRecoveryCode = (challenge) =>
  post(ENDPOINTS.recoverySend, { mfa_token: challenge.token }, { noRefresh: true });
export const recoverByEmail = (challenge, code) =>
  exchange(ENDPOINTS.recovery, { mfa_token: challenge.token, code });
