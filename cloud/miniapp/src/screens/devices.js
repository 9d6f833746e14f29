// screens/devices.js
import { t } from '../i18n.js';
import { h, notice } from '../ui.js';

export function render(view) {
  view.append(h('h1', null, t('nav.devices')), notice('info', t('err.notAvailable')));
}
