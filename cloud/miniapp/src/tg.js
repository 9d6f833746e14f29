// tg.js - the Telegram side, through @tma.js/sdk 3.x. The same app runs in a
// plain mobile browser (a WhatsApp link, WeChat, the dev launch page): every
// function here has a web fallback, and nothing throws when Telegram is absent.
//
// "In Telegram" means launch parameters are present AND a bridge to the client
// exists (an iframe parent, TelegramWebviewProxy or external.notify). The dev
// launch page gives launch parameters in a top-level tab: init data is used to
// sign in, the buttons are HTML.
import {
  backButton,
  closingBehavior,
  hapticFeedback,
  init,
  invoice,
  mainButton,
  openLink,
  miniApp,
  qrScanner,
  retrieveLaunchParams,
  retrieveRawInitData,
  themeParams,
  viewport,
} from '@tma.js/sdk';

export const tg = {
  inTelegram: false,
  platform: 'browser',
  initDataRaw: null,
  user: null, // init data's user (snake_case keys as Telegram sends them)
  startParam: null,
};

function hasBridge() {
  try {
    if (window.self !== window.top) return true;
  } catch (_) {
    return true; // cross-origin parent: an iframe
  }
  return !!(window.TelegramWebviewProxy?.postEvent || typeof window.external?.notify === 'function');
}

function safe(fn) {
  try { return fn(); } catch (_) { return undefined; }
}

// Launch parameters straight from the URL (hash first, then the URL the page
// was first loaded with): the SDK's parser insists on every field a current
// Telegram client sends (e.g. `signature`), so init data from an older client
// or a dev launch page would otherwise be lost. The server does the real check.
function rawLaunchParams() {
  const urls = [location.href];
  try { urls.push(performance.getEntriesByType('navigation')[0]?.name); } catch (_) { /* old browser */ }
  for (const u of urls) {
    if (!u) continue;
    const hash = u.includes('#') ? u.slice(u.indexOf('#') + 1) : '';
    const p = new URLSearchParams(hash);
    if (p.get('tgWebAppData')) return p;
  }
  return null;
}

export function initTelegram() {
  let lp = null;
  try { lp = retrieveLaunchParams(); } catch (_) { lp = null; }
  if (lp) {
    tg.platform = lp.tgWebAppPlatform || 'unknown';
    tg.initDataRaw = safe(retrieveRawInitData) || null;
    const d = lp.tgWebAppData || {};
    tg.user = d.user || null;
    tg.startParam = lp.tgWebAppStartParam || d.start_param || null;
  } else {
    const p = rawLaunchParams();
    if (p) {
      tg.platform = p.get('tgWebAppPlatform') || 'unknown';
      tg.initDataRaw = p.get('tgWebAppData');
      const d = new URLSearchParams(tg.initDataRaw);
      tg.user = safe(() => JSON.parse(d.get('user'))) || null;
      tg.startParam = p.get('tgWebAppStartParam') || d.get('start_param');
    }
  }
  if (!lp || !hasBridge()) return tg;
  tg.inTelegram = true;
  // Custom styles would arrive as an inline <style>, which our CSP refuses.
  safe(() => init({ acceptCustomStyles: false }));
  safe(() => { themeParams.mount(); themeParams.bindCssVars(); });
  safe(() => { miniApp.mount(); miniApp.bindCssVars(); });
  safe(() => {
    viewport.mount().then(() => {
      safe(() => viewport.bindCssVars());
      safe(() => viewport.expand());
    }).catch(() => {});
  });
  safe(() => backButton.mount());
  safe(() => closingBehavior.mount());
  safe(() => mainButton.mount());
  safe(() => miniApp.ready());
  document.documentElement.dataset.tg = '1';
  return tg;
}

// Init data is a bearer credential: once exchanged for a session it must not
// stay in the address bar (a reload or a shared link would present it again).
export function dropLaunchHash() {
  if (/tgWebAppData=|tgWebAppVersion=/.test(location.hash)) {
    history.replaceState(null, '', location.pathname + location.search);
  }
}

// ---- main button: Telegram's bottom button, or an HTML one ----
let mainHandler = null;
let offMain = null;
export function setMainButton(text, onClick, { enabled = true, busy = false } = {}) {
  mainHandler = onClick;
  const html = document.getElementById('mainbtn');
  if (tg.inTelegram && safe(() => mainButton.isMounted())) {
    safe(() => offMain && offMain());
    offMain = safe(() => mainButton.onClick(() => mainHandler && mainHandler()));
    safe(() => mainButton.setParams({ text, isVisible: true, isEnabled: enabled, isLoaderVisible: busy }));
    if (html) html.hidden = true;
    return;
  }
  if (!html) return;
  html.textContent = text;
  html.disabled = !enabled || busy;
  html.setAttribute('aria-busy', busy ? 'true' : 'false');
  html.hidden = false;
  html.onclick = () => mainHandler && mainHandler();
  document.body.classList.add('has-mainbtn');
}

export function hideMainButton() {
  mainHandler = null;
  if (tg.inTelegram) {
    safe(() => offMain && offMain());
    offMain = null;
    safe(() => mainButton.setParams({ isVisible: false, isLoaderVisible: false }));
  }
  const html = document.getElementById('mainbtn');
  if (html) html.hidden = true;
  document.body.classList.remove('has-mainbtn');
}

// ---- back button: Telegram's, or the HTML one in the header ----
let backHandler = null;
let offBack = null;
export function setBackButton(onClick) {
  backHandler = onClick;
  const html = document.getElementById('back');
  if (tg.inTelegram && safe(() => backButton.isSupported())) {
    safe(() => offBack && offBack());
    if (onClick) {
      offBack = safe(() => backButton.onClick(() => backHandler && backHandler()));
      safe(() => backButton.show());
    } else {
      offBack = null;
      safe(() => backButton.hide());
    }
    if (html) html.hidden = true;
    return;
  }
  if (html) {
    html.hidden = !onClick;
    html.onclick = () => backHandler && backHandler();
  }
}

// ---- closing: while a workout is going on, Telegram asks before closing ----
export function confirmClosing(on) {
  if (!tg.inTelegram) return;
  safe(() => (on ? closingBehavior.enableConfirmation() : closingBehavior.disableConfirmation()));
}

// ---- haptics: only inside Telegram; the web has no equivalent worth using ----
export function haptic(kind) {
  if (!tg.inTelegram) return;
  safe(() => {
    if (kind === 'success' || kind === 'error' || kind === 'warning') hapticFeedback.notificationOccurred(kind);
    else if (kind === 'select') hapticFeedback.selectionChanged();
    else hapticFeedback.impactOccurred(kind || 'light');
  });
}

// ---- QR scanner: Telegram's, else null (the screen offers manual entry) ----
export function canScanQr() {
  return tg.inTelegram && !!safe(() => qrScanner.isSupported());
}

export async function scanQr(text) {
  if (!canScanQr()) return null;
  try {
    const v = await qrScanner.capture({ text, capture: () => true });
    return v || null;
  } catch (_) {
    return null;
  }
}

// ---- payments ----
// A Telegram invoice link opens Telegram's payment sheet; its "paid" answer is
// no proof (the server marks the order paid on successful_payment only), so
// the caller re-reads the order either way. Returns the sheet's status or null.
export async function openInvoice(url) {
  if (!tg.inTelegram || !safe(() => invoice.isSupported())) return null;
  try { return await invoice.openUrl(url); } catch (_) { return null; }
}

// A payment page outside the app (YooKassa): Telegram opens it in the
// browser; a plain browser goes there and comes back to the return URL.
export function openExternal(url) {
  if (tg.inTelegram && safe(() => { openLink(url); return true; })) return;
  location.assign(url);
}
