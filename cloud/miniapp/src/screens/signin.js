// screens/signin.js - no session yet: the 2FA challenge after init data, the
// one-time code from a WhatsApp/WeChat link, or how to open the app.
import { finishMfa, recoverByEmail, sendMfaCode, sendRecoveryCode, sendWhatsAppCode, signInWithWhatsApp } from '../auth.js';
import { errorNotice, errorText } from '../errors.js';
import { t } from '../i18n.js';
import { haptic, hideMainButton, setMainButton } from '../tg.js';
import { field, h, notice, section } from '../ui.js';

export function render(view, app, opts) {
  if (opts.challenge) return challenge(view, opts);
  view.append(h('h1', null, t('signin.title')));
  if (opts.error) {
    view.append(errorNotice(opts.error, () => location.reload()));
  } else if (opts.retry) {
    view.append(notice('info', t('signin.signedOut'), { label: t('signin.again'), run: opts.retry }));
  } else {
    view.append(notice('info', t('signin.openFromBot')));
  }
  codeForm(view, opts);
  return () => hideMainButton();
}

// WhatsApp users without a link at hand: a code to their number.
function codeForm(view, opts) {
  const phone = h('input', { type: 'tel', name: 'phone', id: 'wa-phone', autocomplete: 'tel', inputmode: 'tel',
                             placeholder: '+7 900 000 00 00' });
  const code = h('input', { type: 'text', name: 'code', id: 'wa-code', inputmode: 'numeric', autocomplete: 'one-time-code',
                            maxlength: '8', autocapitalize: 'off', spellcheck: 'false' });
  const codeField = field(t('signin.waCode'), code);
  codeField.hidden = true;
  const msg = h('p', { class: 'form-error', role: 'alert' });
  const note = h('p', { class: 'hint', role: 'status' });
  const submit = h('button', { type: 'submit', class: 'primary' }, t('mfa.send'));
  let sent = false;
  const form = h('form', { id: 'wa-form', novalidate: true },
    field(t('signin.waPhone'), phone, t('signin.waHint')), codeField, note, msg, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    const number = phone.value.replace(/[\s()-]/g, '');
    if (!/^\+?\d{8,15}$/.test(number)) { msg.textContent = t('signin.waBadPhone'); phone.focus(); return; }
    submit.disabled = true;
    try {
      if (!sent) {
        await sendWhatsAppCode(number);
        sent = true;
        codeField.hidden = false;
        submit.textContent = t('signin.codeSubmit');
        note.textContent = t('signin.waSent');
        code.focus();
        return;
      }
      const c = code.value.trim();
      if (!c) { msg.textContent = t('signin.codeEmpty'); code.focus(); return; }
      const r = await signInWithWhatsApp(number, c);
      if (r.challenge) { view.replaceChildren(); challenge(view, { ...opts, challenge: r.challenge }); return; }
      opts.onSignedIn(r.user);
    } catch (e) {
      msg.textContent = errorText(e);
    } finally {
      submit.disabled = false;
    }
  });
  view.append(section(t('signin.waTitle'), form));
}

const METHOD_KEYS = { totp: 'mfa.totp', backup: 'mfa.backup', sms: 'mfa.sms', telegram: 'mfa.telegram', whatsapp: 'mfa.whatsapp' };
const SENDS = new Set(['sms', 'telegram', 'whatsapp']);

function challenge(view, opts) {
  const ch = opts.challenge;
  const methods = ch.methods.filter((m) => METHOD_KEYS[m]);
  let method = methods[0] || 'totp';
  view.append(h('h1', null, t('mfa.title')), h('p', null, t('mfa.intro')));
  const input = h('input', { type: 'text', name: 'otp', id: 'otp', inputmode: 'numeric', autocomplete: 'one-time-code',
                             autocapitalize: 'off', spellcheck: 'false', maxlength: '32', required: true });
  const msg = h('p', { class: 'form-error', role: 'alert' });
  const note = h('p', { class: 'hint', role: 'status' });
  const sendBtn = h('button', { type: 'button', class: 'secondary', hidden: true }, t('mfa.send'));
  const label = h('label', { for: 'otp' });
  const choose = h('fieldset', { class: 'choices' }, h('legend', null, t('mfa.method')),
    methods.map((m) => h('label', { class: 'choice' },
      h('input', { type: 'radio', name: 'mfa-method', value: m, checked: m === method,
                   onchange: () => { method = m; update(); } }),
      ' ', t(METHOD_KEYS[m]))));
  function update() {
    label.textContent = method.startsWith('backup') ? t('mfa.backupLabel') : t('mfa.codeLabel');
    input.inputMode = method.startsWith('backup') ? 'text' : 'numeric';
    sendBtn.hidden = !SENDS.has(method);
  }
  sendBtn.addEventListener('click', async () => {
    msg.textContent = '';
    try {
      await sendMfaCode(ch, method);
      note.textContent = t('mfa.sent');
    } catch (e) { msg.textContent = errorText(e); }
  });
  const form = h('form', { id: 'mfa-form', novalidate: true },
    methods.length > 1 ? choose : null,
    h('div', { class: 'field' }, label, input), sendBtn, note, msg,
    h('button', { type: 'submit', class: 'primary' }, t('mfa.submit')));
  async function submit() {
    msg.textContent = '';
    const code = input.value.replace(/\s+/g, '');
    if (!code) { msg.textContent = t('signin.codeEmpty'); input.focus(); return; }
    setMainButton(t('mfa.submit'), submit, { busy: true });
    try {
      const r = await finishMfa(ch, method, code);
      if (r.user) { haptic('success'); hideMainButton(); opts.onSignedIn(r.user); return; }
      msg.textContent = t('err.code');
    } catch (e) {
      haptic('error');
      msg.textContent = errorText(e);
      input.select();
    }
    setMainButton(t('mfa.submit'), submit);
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
  update();
  view.append(section(null, form));
  if (ch.token) recovery(view, opts);
  else view.append(notice('error', t('err.app')));
  setMainButton(t('mfa.submit'), submit);
  input.focus();
  return () => hideMainButton();
}

// Lost the second factor (and the backup codes): a code to the verified
// e-mail resets two-step verification; the user sets up a new factor after.
function recovery(view, opts) {
  const ch = opts.challenge;
  const input = h('input', { type: 'text', name: 'recovery-code', id: 'recovery-code', inputmode: 'numeric',
                             autocomplete: 'one-time-code', maxlength: '8', autocapitalize: 'off', spellcheck: 'false' });
  const codeField = field(t('recovery.codeLabel'), input);
  codeField.hidden = true;
  const msg = h('p', { class: 'form-error', role: 'alert' });
  const note = h('p', { class: 'hint', role: 'status' });
  const send = h('button', { type: 'button', class: 'secondary', id: 'recovery-send' }, t('recovery.send'));
  const reset = h('button', { type: 'submit', class: 'secondary', id: 'recovery-submit', hidden: true }, t('recovery.submit'));
  send.addEventListener('click', async () => {
    msg.textContent = '';
    send.disabled = true;
    try {
      const r = await sendRecoveryCode(ch);
      note.textContent = t('recovery.sent', { to: r.destination || '' });
      codeField.hidden = false;
      reset.hidden = false;
      input.focus();
    } catch (e) { msg.textContent = errorText(e); }
    send.disabled = false;
  });
  const form = h('form', { id: 'recovery-form', novalidate: true },
    h('p', { class: 'hint' }, t('recovery.intro')), send, codeField, note, msg, reset);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    const code = input.value.replace(/\s+/g, '');
    if (!code) { msg.textContent = t('signin.codeEmpty'); input.focus(); return; }
    reset.disabled = true;
    try {
      const r = await recoverByEmail(ch, code);
      if (r.user) { haptic('success'); hideMainButton(); opts.onSignedIn(r.user); return; }
      msg.textContent = t('err.code');
    } catch (e) {
      haptic('error');
      msg.textContent = errorText(e);
    }
    reset.disabled = false;
  });
  view.append(section(t('recovery.title'), form));
}
