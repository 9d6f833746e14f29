// ui.js - tiny DOM helpers. Everything is built with createElement and
// textContent (never innerHTML with data), so server text cannot inject markup,
// and nothing needs inline styles (the CSP forbids them; element.style via the
// CSSOM is allowed and used only for computed sizes and colours).
import { t } from './i18n.js';

// h('button', {class: 'primary', onclick: fn, 'aria-label': '…'}, 'text', child, ...)
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function mount(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

let idSeq = 0;
export const uid = (p = 'f') => `${p}-${++idSeq}`;

// A labelled form field: <label for> + <input id>.
export function field(label, input, hint) {
  const id = input.id || (input.id = uid());
  const hintEl = hint ? h('p', { class: 'hint', id: id + '-hint' }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
}

export function section(title, ...children) {
  const id = uid('s');
  return h('section', { class: 'card', 'aria-labelledby': id },
    title ? h('h2', { id }, title) : null, ...children);
}

export function spinner(text) {
  return h('p', { class: 'loading', role: 'status' }, text || t('common.loading'));
}

// A plain message with a next step: {title, text, action: {label, run}}.
export function notice(kind, text, action) {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('p', null, text),
    action ? h('button', { class: 'secondary', type: 'button', onclick: action.run }, action.label) : null);
}

export function kv(rows) {
  return h('dl', { class: 'kv' },
    rows.filter((r) => r && r[1] !== undefined && r[1] !== null && r[1] !== '')
      .map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))));
}

// Live region for short announcements (screen readers) + the visible toast.
export function toast(text, kind = 'info') {
  let el = document.getElementById('toast');
  if (!el) return;
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}
