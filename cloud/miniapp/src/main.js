// main.js - boot: Telegram (or plain web) environment, language, sign-in, the
// app-wide live stream, and a hash router over the screens.
import { ApiError, clearSession, get, onSignedOut, session } from './api.js';
import { errorNotice } from './errors.js';
import { chooseLang, getLang, hasChosenLang, normLang, setLang, t } from './i18n.js';
import { signIn } from './auth.js';
import { openLive } from './stream.js';
import { dropLaunchHash, haptic, hideMainButton, initTelegram, setBackButton, tg } from './tg.js';
import { h, mount } from './ui.js';
import * as achievements from './screens/achievements.js';
import * as devices from './screens/devices.js';
import * as live from './screens/live.js';
import * as more from './screens/more.js';
import * as progress from './screens/progress.js';
import * as security from './screens/security.js';
import * as shop from './screens/shop.js';
import * as signin from './screens/signin.js';
import * as workouts from './screens/workouts.js';

// route -> [screen, tab it belongs to, is a tab's root]
const ROUTES = [
  [/^live$/, live, 'live', true],
  [/^workouts$/, workouts, 'workouts', true],
  [/^workouts\/([\w-]+)$/, workouts, 'workouts', false],
  [/^progress$/, progress, 'progress', true],
  [/^achievements$/, achievements, 'more', false],
  [/^devices$/, devices, 'devices', true],
  [/^security$/, security, 'more', false],
  [/^shop(?:\/(.*))?$/, shop, 'more', false],
  [/^more$/, more, 'more', true],
];
const TABS = ['live', 'workouts', 'progress', 'devices', 'more'];

const app = {
  tg,
  user: null,
  live: null, // {recent, subscribe(fn), drop(), stats}
  go(route) { location.hash = '#/' + route; },
  // Back goes to the previous screen of this app; when there is none (the
  // app was opened on an inner screen, e.g. coming back from a payment page),
  // to the screen's parent - never out of the app.
  back() {
    if (visited.length > 1) history.back();
    else location.replace('#/' + (app.parentOf || 'live'));
  },
  refreshUser(u) { if (u) { app.user = u; showUser(); } },
  parentOf: null,
  relocalize() {
    const state = document.getElementById('status')?.dataset.state;
    shell();
    document.getElementById('tabs').hidden = false;
    setStatus(state || 'live');
    showUser();
    route();
  },
};
window.fitgate = app; // for tests and debugging: the live stream's stats, drop()

let cleanup = null;
const visited = []; // screens seen in this tab, for back()

function shell() {
  mount(document.body,
    h('a', { class: 'skip', href: '#view' }, t('a11y.skip')),
    h('header', { class: 'top' },
      h('button', { id: 'back', class: 'icon', type: 'button', hidden: true, 'aria-label': t('common.back') }, '‹'),
      h('span', { id: 'user', class: 'user' }, '…'),
      h('span', { id: 'status', class: 'status', 'data-state': 'starting', role: 'status' }, t('status.starting'))),
    h('main', { id: 'view', tabindex: '-1' }),
    h('p', { id: 'toast', class: 'toast', role: 'status', 'aria-live': 'polite', hidden: true }),
    h('button', { id: 'mainbtn', class: 'mainbtn', type: 'button', hidden: true }),
    h('nav', { id: 'tabs', class: 'tabs', 'aria-label': t('nav.label'), hidden: true },
      TABS.map((tab) => h('a', { href: '#/' + tab, 'data-tab': tab }, h('span', { class: 'tab-icon', 'aria-hidden': 'true' }, ICONS[tab]), t('nav.' + tab)))));
}

const ICONS = { live: '♥', workouts: '≡', progress: '↗', devices: '⌁', more: '⋯' };

export function setStatus(state, text) {
  const el = document.getElementById('status');
  if (!el) return;
  el.dataset.state = state;
  el.textContent = text ?? t('status.' + state);
}

function showUser() {
  const u = app.user || {};
  const name = [u.first_name, u.last_name].filter(Boolean).join(' ') || u.display_name || u.name || '';
  document.getElementById('user').textContent = name + (u.username ? ` (@${u.username})` : '');
}

function startLive() {
  const recent = [];
  const subs = new Set();
  const stream = openLive({
    onReading(r) {
      recent.push(r);
      if (recent.length > 2000) recent.splice(0, recent.length - 1500);
      subs.forEach((fn) => fn(r));
    },
    onState(s) {
      if (s === 'signed-out') { signedOut(); return; }
      setStatus(s);
    },
  });
  app.live = {
    recent,
    stats: stream.stats,
    subscribe(fn) { subs.add(fn); return () => subs.delete(fn); },
    drop: () => stream.drop(),
    close: () => stream.close(),
  };
}

function route() {
  if (!app.user) return; // signed out: the sign-in screen stays
  const path = location.hash.replace(/^#\/?/, '') || 'live';
  let match = null;
  for (const [re, screen, tab, root] of ROUTES) {
    const m = path.match(re);
    if (m) { match = { screen, tab, root, params: m.slice(1) }; break; }
  }
  if (!match) { app.go('live'); return; }
  if (visited.length > 1 && visited[visited.length - 2] === path) visited.pop();
  else if (visited[visited.length - 1] !== path) visited.push(path);
  if (cleanup) { try { cleanup(); } catch (_) { /* ignore */ } cleanup = null; }
  hideMainButton();
  const view = document.getElementById('view');
  mount(view);
  view.dataset.screen = path.split('/')[0];
  for (const a of document.querySelectorAll('#tabs a')) {
    if (a.dataset.tab === match.tab) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  app.parentOf = match.root ? null : (match.tab === 'more' && path !== 'more' ? 'more' : match.tab);
  setBackButton(match.root ? null : () => { haptic('light'); app.back(); });
  try {
    const r = match.screen.render(view, app, ...match.params);
    cleanup = typeof r === 'function' ? r : null;
  } catch (e) {
    view.append(errorNotice(e, () => route()));
  }
  view.focus({ preventScroll: true });
}

app.signedOut = () => signedOut();
function signedOut() {
  if (app.live) app.live.close();
  app.live = null;
  app.user = null;
  clearSession();
  document.getElementById('tabs').hidden = true;
  setStatus('signed-out');
  showSignIn();
}

function showSignIn(opts) {
  if (cleanup) { try { cleanup(); } catch (_) { /* ignore */ } cleanup = null; }
  const view = document.getElementById('view');
  mount(view);
  view.dataset.screen = 'signin';
  document.getElementById('user').textContent = 'fitgate';
  setBackButton(null);
  signin.render(view, app, {
    ...opts,
    onSignedIn: started,
    // "Sign in again" with this tab's launch parameters (after signing out).
    retry: tg.initDataRaw ? async () => {
      setStatus('signing-in');
      try {
        const res = await signIn(tg, { force: true });
        if (res.user) { started(res.user); return; }
        showSignIn({ challenge: res.challenge });
      } catch (e) {
        setStatus('error');
        showSignIn({ error: e });
      }
    } : null,
  });
}

let routing = false;
async function started(user) {
  app.user = user || session.user || {};
  // The full profile (max HR and birth year for the zones, the language the
  // account keeps for users who come without Telegram's language_code).
  try {
    const me = await get('/api/v1/me');
    app.user = { ...app.user, ...(me?.user || me) };
  } catch (_) { /* the session reply is enough to go on */ }
  const accountLang = normLang(app.user.lang);
  if (accountLang && !hasChosenLang() && !normLang(tg.user?.language_code) && accountLang !== getLang()) {
    setLang(accountLang);
    shell();
  }
  showUser();
  document.getElementById('tabs').hidden = false;
  startLive();
  if (!routing) { window.addEventListener('hashchange', route); routing = true; }
  // A bot link can open a screen: t.me/<bot>/<app>?startapp=shop
  const start = /^(live|workouts|progress|achievements|devices|security|shop|more)$/.test(tg.startParam || '') ? tg.startParam : 'live';
  if (!/^#\/./.test(location.hash)) history.replaceState(null, '', '#/' + start);
  route();
}

async function main() {
  initTelegram();
  chooseLang(tg.user?.language_code);
  shell();
  onSignedOut(() => signedOut());
  setStatus('signing-in');
  let res;
  try {
    res = await signIn(tg);
  } catch (e) {
    dropLaunchHash();
    setStatus('error');
    showSignIn({ error: e instanceof ApiError ? e : new ApiError(0, 'offline', String(e)) });
    return;
  }
  dropLaunchHash();
  if (res.user) { await started(res.user); return; }
  setStatus('signed-out');
  showSignIn({ challenge: res.challenge });
}

main();
