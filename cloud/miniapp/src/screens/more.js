// screens/more.js - the rest of the app (achievements, security, shop) and
// the language switch.
import { getLang, LANG_NAMES, setLang, t } from '../i18n.js';
import { haptic } from '../tg.js';
import { h, section } from '../ui.js';

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
    app.relocalize(); // the shell holds strings too: rebuild it all
  });
  view.append(section(t('more.language'), h('div', { class: 'field' },
    h('label', { for: 'lang' }, t('more.languageLabel')), select)));
}
