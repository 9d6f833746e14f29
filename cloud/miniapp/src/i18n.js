// i18n.js - strings in English, Russian and Chinese. The language comes from
// the Telegram user's language_code (init data), then the user's own choice
// (kept in localStorage), then the browser. Missing keys fall back to English.
import en from './locales/en.js';
import ru from './locales/ru.js';
import zh from './locales/zh.js';

export const LANGS = { en, ru, zh };
export const LANG_NAMES = { en: 'English', ru: 'Русский', zh: '中文' };
const STORE_KEY = 'fitgate.lang';

let lang = 'en';
let dict = en;
let plural = new Intl.PluralRules('en');

export function normLang(code) {
  if (!code) return null;
  const base = String(code).toLowerCase().split(/[-_]/)[0];
  return LANGS[base] ? base : null;
}

// Pick the language at start: an explicit choice wins over init data, which
// wins over the browser.
export function chooseLang(fromInitData) {
  let saved = null;
  try { saved = normLang(localStorage.getItem(STORE_KEY)); } catch (_) { /* private mode */ }
  setLang(saved || normLang(fromInitData) || normLang(navigator.language) || 'en');
  return lang;
}

export function setLang(code, remember = false) {
  lang = normLang(code) || 'en';
  dict = LANGS[lang];
  plural = new Intl.PluralRules(lang);
  document.documentElement.lang = lang;
  if (remember) {
    try { localStorage.setItem(STORE_KEY, lang); } catch (_) { /* ignore */ }
  }
}

export const getLang = () => lang;

// Did the user pick a language in the app (which then wins over everything)?
export function hasChosenLang() {
  try { return !!normLang(localStorage.getItem(STORE_KEY)); } catch (_) { return false; }
}

// t('live.bpm') or t('workouts.count', {n: 3}); a value that is an object is a
// plural table ({one, few, many, other}) chosen by params.n.
export function t(key, params) {
  let s = dict[key] ?? en[key];
  if (s === undefined) return key;
  if (typeof s === 'object') s = s[plural.select(params?.n ?? 0)] ?? s.other;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] !== undefined ? String(params[k]) : m));
  return s;
}

// Locale-aware formatting helpers.
const nf = {};
export function num(v, digits = 0) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  const k = lang + digits;
  nf[k] ||= new Intl.NumberFormat(lang, { maximumFractionDigits: digits, minimumFractionDigits: digits });
  return nf[k].format(v);
}

export function dateTime(ms) {
  if (!ms) return '–';
  return new Date(ms).toLocaleString(lang, { dateStyle: 'medium', timeStyle: 'short' });
}

export function date(ms) {
  if (!ms) return '–';
  return new Date(ms).toLocaleDateString(lang, { dateStyle: 'medium' });
}

// 3725 s -> "1:02:05"; 65 s -> "1:05"
export function duration(sec) {
  if (sec === null || sec === undefined || sec < 0) return '–';
  sec = Math.floor(sec);
  const hh = Math.floor(sec / 3600), mm = Math.floor((sec % 3600) / 60), ss = sec % 60;
  const p = (x) => String(x).padStart(2, '0');
  return hh ? `${hh}:${p(mm)}:${p(ss)}` : `${mm}:${p(ss)}`;
}

export function money(minor, currency) {
  if (minor === null || minor === undefined) return '–';
  try {
    return new Intl.NumberFormat(lang, { style: 'currency', currency: currency || 'RUB' }).format(minor / 100);
  } catch (_) {
    return `${num(minor / 100, 2)} ${currency || ''}`.trim();
  }
}
