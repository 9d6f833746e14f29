// screens/security.js - two-step verification (authenticator app with QR and
// manual key, backup codes shown once, SMS / e-mail codes), active sessions,
// sign out here or everywhere.
import { clearSession, del, get, items, post } from '../api.js';
import { markSignedOut } from '../auth.js';
import { errorNotice, errorText } from '../errors.js';
import { dateTime, t } from '../i18n.js';
import { haptic, tg } from '../tg.js';
import { field, h, mount, notice, section, spinner, toast } from '../ui.js';

export const EP = {
  status: '/api/v1/me/2fa',
  totpSetup: '/api/v1/me/2fa/totp/setup',
  totpConfirm: '/api/v1/me/2fa/totp/confirm',
  totpDisable: '/api/v1/me/2fa/totp/disable',
  backupCodes: '/api/v1/me/2fa/backup-codes',
  otpStart: '/api/v1/me/2fa/otp/start', // {channel: sms|email, destination}
  otpConfirm: '/api/v1/me/2fa/otp/confirm', // {channel, code}
  otpDisable: '/api/v1/me/2fa/otp/disable', // {channel}
  sessions: '/api/v1/sessions',
  signOut: '/api/v1/session/logout',
  signOutAll: '/api/v1/sessions/revoke-all',
};

export function render(view, app) {
  view.append(h('h1', null, t('sec.title')));
  const mfaBox = h('div', null, spinner());
  const sessBox = h('div', null, spinner());
  view.append(section(t('sec.mfa'), mfaBox), section(t('sec.sessions'), sessBox));
  loadMfa(mfaBox, app);
  loadSessions(sessBox, app);
}

function codeInput(name) {
  return h('input', { type: 'text', name, inputmode: 'numeric', autocomplete: 'one-time-code',
                      pattern: '[0-9]*', maxlength: '8', autocapitalize: 'off', spellcheck: 'false' });
}

// A small form: fields + submit; run(values) may throw an ApiError.
function form(id, fields, submitLabel, run) {
  const msg = h('p', { class: 'form-error', role: 'alert' });
  const btn = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const f = h('form', { id, novalidate: true }, fields, msg, h('div', { class: 'actions' }, btn));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    btn.disabled = true;
    try {
      await run(f);
    } catch (e) {
      haptic('error');
      msg.textContent = errorText(e);
    } finally {
      btn.disabled = false;
    }
  });
  return f;
}

async function loadMfa(box, app) {
  let st;
  try {
    st = await get(EP.status);
  } catch (e) {
    mount(box, errorNotice(e, () => loadMfa(box, app)));
    return;
  }
  const totpOn = !!(st.totp?.enabled ?? st.totp);
  const left = st.backup_codes_left ?? st.backup_codes?.left;
  const rows = [];
  rows.push(h('p', { id: 'mfa-state' }, totpOn ? t('sec.totpOn') : t('sec.totpOff')));
  if (totpOn) {
    if (left !== undefined) rows.push(h('p', { class: 'hint' }, t('sec.backupLeft', { n: left })));
    rows.push(h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', id: 'new-backup',
                    onclick: () => newBackupCodes(box, app) }, t('sec.newBackup')),
      h('button', { type: 'button', class: 'danger', id: 'totp-off',
                    onclick: () => disableTotp(box, app) }, t('sec.totpDisable'))));
  } else {
    rows.push(h('button', { type: 'button', class: 'primary', id: 'totp-setup',
                            onclick: () => setupTotp(box, app) }, t('sec.totpEnable')));
  }
  const reload = () => loadMfa(box, app);
  for (const ch of ['sms', 'whatsapp', 'email']) rows.push(otpChannel(ch, st[ch] || {}, reload, (codes) => showBackupCodes(box, app, codes)));
  mount(box, rows);
}

async function setupTotp(box, app) {
  mount(box, spinner());
  let s;
  try {
    s = await post(EP.totpSetup);
  } catch (e) {
    mount(box, errorNotice(e, () => setupTotp(box, app)));
    return;
  }
  const secret = s.secret || s.manual_key || '';
  const uri = s.otpauth_uri || s.uri || '';
  const qr = s.qr_svg
    ? h('img', { class: 'qr', alt: t('sec.qrAlt'), src: 'data:image/svg+xml;base64,' + btoa(unescape(encodeURIComponent(s.qr_svg))) })
    : s.qr_url ? h('img', { class: 'qr', alt: t('sec.qrAlt'), src: s.qr_url }) : null;
  const input = codeInput('totp');
  mount(box,
    h('ol', { class: 'steps' },
      h('li', null, t('sec.step1')),
      h('li', null, t('sec.step2'), qr,
        h('p', null, t('sec.manual')),
        h('p', { class: 'secret', id: 'totp-secret' }, secret.replace(/(.{4})/g, '$1 ').trim()),
        uri ? h('p', null, h('a', { href: uri, id: 'totp-link' }, t('sec.openApp'))) : null),
      h('li', null, t('sec.step3'))),
    form('totp-confirm', field(t('mfa.codeLabel'), input), t('sec.confirm'), async () => {
      const r = await post(EP.totpConfirm, { code: input.value.trim() });
      haptic('success');
      showBackupCodes(box, app, r.backup_codes || r.codes || []);
    }),
    h('button', { type: 'button', class: 'secondary', onclick: () => loadMfa(box, app) }, t('common.cancel')));
  input.focus();
}

// Backup codes are shown exactly once: the server keeps only their hashes.
function showBackupCodes(box, app, codes) {
  mount(box,
    notice('ok', t('sec.totpDone')),
    h('h3', null, t('sec.backupTitle')),
    h('p', null, t('sec.backupOnce')),
    h('ol', { class: 'codes', id: 'backup-codes' }, codes.map((c) => h('li', null, c))),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onclick: async () => {
        try { await navigator.clipboard.writeText(codes.join('\n')); toast(t('sec.copied')); } catch (_) { toast(t('sec.copyFailed')); }
      } }, t('sec.copy')),
      h('button', { type: 'button', class: 'primary', id: 'backup-done', onclick: () => loadMfa(box, app) }, t('sec.saved'))));
}

function newBackupCodes(box, app) {
  const input = codeInput('code');
  mount(box, h('p', null, t('sec.newBackupAsk')),
    form('backup-new', field(t('mfa.codeLabel'), input), t('sec.newBackup'), async () => {
      const r = await post(EP.backupCodes, { code: input.value.trim() });
      showBackupCodes(box, app, r.backup_codes || r.codes || []);
    }),
    h('button', { type: 'button', class: 'secondary', onclick: () => loadMfa(box, app) }, t('common.cancel')));
  input.focus();
}

function disableTotp(box, app) {
  const input = codeInput('code');
  mount(box, notice('error', t('sec.disableWarn')),
    form('totp-disable', field(t('mfa.codeLabel'), input), t('sec.totpDisable'), async () => {
      await post(EP.totpDisable, { code: input.value.trim() });
      haptic('warning');
      toast(t('sec.totpOff'));
      loadMfa(box, app);
    }),
    h('button', { type: 'button', class: 'secondary', onclick: () => loadMfa(box, app) }, t('common.cancel')));
}

// One-time codes by SMS / WhatsApp (sign-in) or e-mail (account recovery
// only): add a destination, confirm it with the code we send there.
const CH_LABEL = { sms: 'mfa.sms', whatsapp: 'mfa.whatsapp', email: 'mfa.email' };
const CH_HINT = { sms: 'sec.smsHint', whatsapp: 'sec.waHint', email: 'sec.emailHint' };
function otpChannel(ch, st, reload, showCodes) {
  const on = !!(st.enabled ?? st.verified);
  const box = h('div', { class: 'otp-channel', id: 'otp-' + ch });
  const title = h('h3', null, t(CH_LABEL[ch]));
  if (on) {
    mount(box, title, h('p', null, t('sec.otpOn', { to: st.destination || st.masked || '' })),
      h('button', { type: 'button', class: 'danger', onclick: async () => {
        try { await post(EP.otpDisable, { channel: ch }); reload(); } catch (e) { toast(errorText(e), 'error'); }
      } }, t('sec.otpDisable')));
    return box;
  }
  const dest = h('input', ch !== 'email'
    ? { type: 'tel', name: 'phone', autocomplete: 'tel', inputmode: 'tel', placeholder: '+7 900 000 00 00' }
    : { type: 'email', name: 'email', autocomplete: 'email', inputmode: 'email', placeholder: 'name@example.com' });
  const start = form('otp-start-' + ch, field(t(ch === 'email' ? 'sec.email' : 'sec.phone'), dest), t('mfa.send'), async () => {
    await post(EP.otpStart, { channel: ch, destination: dest.value.trim() });
    const code = codeInput('code');
    mount(box, title, h('p', null, t('sec.otpSent', { to: dest.value.trim() })),
      form('otp-confirm-' + ch, field(t('mfa.codeLabel'), code), t('sec.confirm'), async () => {
        const r = await post(EP.otpConfirm, { channel: ch, code: code.value.trim() });
        haptic('success');
        // The first second factor comes with backup codes: shown once.
        if (Array.isArray(r?.backup_codes) && r.backup_codes.length) showCodes(r.backup_codes);
        else reload();
      }));
    code.focus();
  });
  mount(box, title, h('p', { class: 'hint' }, t(CH_HINT[ch])), start);
  return box;
}

// "Telegram · Android" from the sign-in method and the browser's user agent.
function clientName(s) {
  const ua = s.user_agent || '';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad|iOS/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows'
    : /Mac OS/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : '';
  const how = (s.method || '').split('+')[0];
  const via = { telegram: 'Telegram', whatsapp: 'WhatsApp', wechat: 'WeChat' }[how] || how;
  return [via, os].filter(Boolean).join(' · ') || t('sec.device');
}

async function loadSessions(box, app) {
  let list;
  try {
    list = items(await get(EP.sessions), 'sessions');
  } catch (e) {
    mount(box, errorNotice(e, () => loadSessions(box, app)));
    return;
  }
  mount(box,
    h('ul', { class: 'list', id: 'sessions' }, list.map((s) => h('li', null, h('div', { class: 'row' },
      h('div', { class: 'main' },
        h('div', { class: 'title' }, clientName(s)),
        h('div', { class: 'sub' }, t('sec.lastSeen', { when: dateTime(s.last_ms || s.last_seen_ms || s.created_ms) }),
          s.ip ? ` · ${s.ip}` : '', s.second_factor ? ` · ${t('sec.with2fa')}` : '')),
      s.current ? h('span', { class: 'badge ok' }, t('sec.thisDevice'))
        : h('button', { type: 'button', class: 'secondary', 'aria-label': t('sec.endSessionOf', { name: clientName(s) }),
                        onclick: async () => {
                          try { await del(`${EP.sessions}/${encodeURIComponent(s.id)}`); loadSessions(box, app); } catch (e) { toast(errorText(e), 'error'); }
                        } }, t('sec.endSession')))))),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', id: 'sign-out', onclick: () => signOut(EP.signOut) }, t('sec.signOut')),
      h('button', { type: 'button', class: 'danger', id: 'sign-out-all', onclick: () => signOut(EP.signOutAll) }, t('sec.signOutAll'))));
}

async function signOut(path) {
  try {
    await post(path, {}, { noRefresh: true });
  } catch (e) {
    if (e.status !== 401) { toast(errorText(e), 'error'); return; }
  }
  clearSession();
  markSignedOut(tg.initDataRaw);
  window.fitgate.signedOut();
}
