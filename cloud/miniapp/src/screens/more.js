// screens/more.js - the rest of the app (achievements, security, shop) and
// the language switch.
import { get, patch, put } from '../api.js';
import { errorText } from '../errors.js';
import { getLang, LANG_NAMES, setLang, t } from '../i18n.js';
import { haptic } from '../tg.js';
import { field, h, section, toast } from '../ui.js';

export function render(view, app) {
  view.append(h('h1', null, t('more.title')));
  const links = [
    ['achievements', 'more.achievements'],
    ['security', 'more.security'],
    ['shop', 'more.shop'],
    ['shop/orders', 'more.orders'],
  ];
  view.append(h('ul', { class: 'menu' },
    links.map(([r, k]) => h('li', null, h('a', { href: '#/' + r, class: 'menu-item' }, t(k), h('span', { 'aria-hidden': 'true' }, '›'))))));
  const select = h('select', { id: 'lang', name: 'lang' },
    Object.entries(LANG_NAMES).map(([code, name]) => h('option', { value: code, selected: code === getLang() }, name)));
  select.addEventListener('change', () => {
    setLang(select.value, true);
    haptic('select');
    // The account keeps it too: messages from the bot come in this language.
    patch('/api/v1/me', { lang: select.value }).catch(() => {});
    app.relocalize(); // the shell holds strings too: rebuild it all
  });
  view.append(section(t('more.language'), h('div', { class: 'field' },
    h('label', { for: 'lang' }, t('more.languageLabel')), select)));
  view.append(section(t('prof.title'), profileForm(app)));
}

// Heart-rate zones and energy need the user's maximum heart rate (or age),
// weight and sex; comparisons with others can be turned off.
function profileForm(app) {
  const u = app.user || {};
  const num = (name, min, max, value) => h('input', { type: 'number', name, min, max, step: '1', inputmode: 'numeric',
                                                      value: value > 0 ? value : '' });
  const year = num('birth_year', '1900', String(new Date().getFullYear()), u.birth_year);
  const maxHr = num('max_hr', '80', '240', u.max_hr);
  const restHr = num('rest_hr', '30', '120', null);
  const weight = num('weight_kg', '25', '300', null);
  const sex = h('select', { name: 'sex' },
    ['', 'female', 'male'].map((v) => h('option', { value: v }, t(v ? 'prof.' + v : 'prof.unset'))));
  const optOut = h('input', { type: 'checkbox', name: 'opt_out', id: 'opt-out' });
  get('/api/v1/progress').then((p) => { optOut.checked = !!p?.opt_out; }).catch(() => {});
  const msg = h('p', { class: 'form-error', role: 'alert' });
  const f = h('form', { id: 'profile', novalidate: true },
    field(t('prof.birthYear'), year), field(t('prof.maxHr'), maxHr, t('prof.maxHrHint')),
    field(t('prof.restHr'), restHr), field(t('prof.weight'), weight), field(t('prof.sex'), sex),
    h('label', { class: 'choice' }, optOut, ' ', t('prof.optOut')), msg,
    h('button', { type: 'submit', class: 'primary' }, t('common.save')));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    const n = (el) => (el.value === '' ? undefined : Number(el.value));
    const by = n(year);
    const settings = { opt_out: optOut.checked, max_hr: n(maxHr), rest_hr: n(restHr), weight_kg: n(weight),
                       sex: sex.value || undefined, age: by ? new Date().getFullYear() - by : undefined,
                       tz_offset_min: -new Date().getTimezoneOffset() };
    try {
      await put('/api/v1/progress/settings', JSON.parse(JSON.stringify(settings)));
      const prof = JSON.parse(JSON.stringify({ birth_year: by, max_hr: n(maxHr) }));
      if (Object.keys(prof).length) await patch('/api/v1/me', prof);
      app.user = { ...app.user, ...prof };
      haptic('success');
      toast(t('dev.saved'));
    } catch (e) {
      msg.textContent = errorText(e);
    }
  });
  return f;
}
