// stepup.js - sensitive actions (paying above a limit, linking the old shop
// account) answer 403 second_factor_required until the session proves a
// second factor: ask for a code inline, send it to POST /api/v1/me/2fa/step-up,
// then run the action again.
import { ApiError, post } from './api.js';
import { errorText } from './errors.js';
import { t } from './i18n.js';
import { haptic } from './tg.js';
import { h, mount } from './ui.js';

export const EP = { stepUp: '/api/v1/me/2fa/step-up', send: '/api/v1/me/2fa/step-up/send' };
const LABELS = { totp: 'mfa.totp', backup: 'mfa.backup', sms: 'mfa.sms', telegram: 'mfa.telegram', whatsapp: 'mfa.whatsapp' };
const SENDS = new Set(['sms', 'telegram', 'whatsapp']);

const needsStepUp = (e) => e instanceof ApiError && e.status === 403 && e.code === 'second_factor_required';

// Run action(); on a step-up demand, show the form in box and retry after.
// Resolves to action()'s result; rejects with any other error (or when the
// user cancels: an ApiError with code 'cancelled').
export async function withStepUp(box, action) {
  try {
    return await action();
  } catch (e) {
    if (!needsStepUp(e)) throw e;
    await ask(box, (e.body.methods || ['totp', 'backup']).filter((m) => LABELS[m]));
    return action();
  }
}

function ask(box, methods) {
  return new Promise((resolve, reject) => {
    let method = methods[0] || 'totp';
    const input = h('input', { type: 'text', id: 'stepup-code', name: 'code', inputmode: 'numeric',
                               autocomplete: 'one-time-code', autocapitalize: 'off', spellcheck: 'false' });
    const msg = h('p', { class: 'form-error', role: 'alert' });
    const note = h('p', { class: 'hint', role: 'status' });
    const send = h('button', { type: 'button', class: 'secondary', hidden: !SENDS.has(method), onclick: async () => {
      msg.textContent = '';
      try { await post(EP.send, { method }); note.textContent = t('mfa.sent'); } catch (e) { msg.textContent = errorText(e); }
    } }, t('mfa.send'));
    const choose = methods.length > 1 ? h('fieldset', { class: 'choices' }, h('legend', null, t('mfa.method')),
      methods.map((m) => h('label', { class: 'choice' }, h('input', { type: 'radio', name: 'stepup-method', value: m, checked: m === method,
        onchange: () => { method = m; send.hidden = !SENDS.has(m); input.inputMode = m === 'backup' ? 'text' : 'numeric'; } }), ' ', t(LABELS[m])))) : null;
    const form = h('form', { id: 'stepup-form', class: 'card', novalidate: true },
      h('h2', null, t('stepup.title')), h('p', null, t('stepup.intro')), choose,
      h('div', { class: 'field' }, h('label', { for: 'stepup-code' }, t('mfa.codeLabel')), input), send, note, msg,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'primary' }, t('mfa.submit')),
        h('button', { type: 'button', class: 'secondary', onclick: () => {
          mount(box);
          reject(new ApiError(0, 'cancelled', 'cancelled'));
        } }, t('common.cancel'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      msg.textContent = '';
      const code = input.value.replace(/\s+/g, '');
      if (!code) { msg.textContent = t('signin.codeEmpty'); input.focus(); return; }
      try {
        await post(EP.stepUp, { method, code });
        haptic('success');
        mount(box);
        resolve();
      } catch (e) {
        haptic('error');
        msg.textContent = errorText(e);
        input.select();
      }
    });
    mount(box, form);
    input.focus();
  });
}
