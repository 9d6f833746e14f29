// screens/achievements.js - earned achievements, the next ones with progress,
// the streak, points and level, and the leaderboard.
import { get, items } from '../api.js';
import { errorNotice } from '../errors.js';
import { date, duration, num, t } from '../i18n.js';
import { h, kv, mount, section, spinner } from '../ui.js';

export const EP = { achievements: '/api/v1/achievements', leaderboard: '/api/v1/leaderboard' };

// Server titles are English; known codes have their own strings.
function title(a) {
  const key = `ach.${a.code}`;
  const s = t(key);
  return s === key ? a.title || a.code : s;
}

// A goal's amount in the unit people think in.
function amount(stat, v) {
  if (stat === 'distance_m') return `${num(v / 1000, v % 1000 ? 1 : 0)} ${t('unit.km')}`;
  if (stat === 'duration_s') return v && v < 3600 ? `${num(v / 60)} ${t('unit.min')}` : `${num(v / 3600, v % 3600 ? 1 : 0)} ${t('unit.h')}`;
  return num(v);
}

function earnedRow(x) {
  const when = x.at_ms || x.unlocked_ms;
  const sub = [when ? date(when) : null, x.points ? t('ach.pts', { n: x.points }) : null].filter(Boolean).join(' · ');
  return h('li', { 'data-code': x.code }, h('div', { class: 'row' },
    h('div', { class: 'main' }, h('div', { class: 'title' }, h('span', { class: 'medal', 'aria-hidden': 'true' }, '★ '), title(x)), h('div', { class: 'sub' }, sub))));
}

export function render(view) {
  view.append(h('h1', null, t('ach.title')));
  const box = h('div', null, spinner());
  const board = h('div', null, spinner());
  view.append(box, section(t('ach.leaderboard'), board));
  (async function load() {
    let a;
    try {
      a = await get(EP.achievements);
    } catch (e) {
      mount(box, errorNotice(e, load));
      return;
    }
    const earned = items(a.earned || a.unlocked, 'earned');
    const next = items(a.next || a.locked, 'next');
    mount(box,
      section(null, kv([
        [t('ach.streak'), t('ach.days', { n: a.streak?.current_days ?? 0 })],
        [t('ach.longest'), t('ach.days', { n: a.streak?.longest_days ?? 0 })],
        [t('ach.points'), num(a.points ?? 0)],
        [t('ach.level'), a.level !== undefined ? num(a.level) : null],
        [t('ach.nextLevel'), a.next_level_points ? t('ach.pts', { n: a.next_level_points }) : null],
      ])),
      section(t('ach.earned'), earned.length
        ? h('ul', { class: 'list', id: 'earned' }, earned.map(earnedRow))
        : h('p', { id: 'no-earned' }, t('ach.noneYet'))),
      next.length ? section(t('ach.next'), h('ul', { class: 'list', id: 'next' }, next.map((x) => {
        const have = x.have ?? 0;
        const need = x.threshold || 1;
        const bar = h('span');
        bar.style.width = `${Math.min(100, (100 * have) / need)}%`;
        return h('li', { 'data-code': x.code }, h('div', { class: 'row' }, h('div', { class: 'main' },
          h('div', { class: 'title' }, title(x)),
          h('div', { class: 'sub' }, `${amount(x.stat, Math.min(have, need))} / ${amount(x.stat, need)}`),
          h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': String(need),
                     'aria-valuenow': String(Math.min(have, need)), 'aria-label': title(x) }, bar))));
      }))) : null);
  })();
  // The leaderboard is per gym (this week, by training load): the gym of
  // the user's last workout, else the gateway they last looked at.
  (async function loadBoard() {
    let gym = null;
    try { gym = items(await get('/api/v1/workouts?limit=1'), 'items')[0]?.gym || null; } catch (_) { /* below */ }
    if (!gym) { try { gym = localStorage.getItem('fitgate.gateway'); } catch (_) { /* ignore */ } }
    if (!gym) { mount(board, h('p', null, t('ach.noGym'))); return; }
    let b;
    try {
      b = await get(`${EP.leaderboard}?gym=${encodeURIComponent(gym)}`);
    } catch (e) {
      mount(board, errorNotice(e, loadBoard));
      return;
    }
    const rows = items(b.rows, 'rows');
    if (!rows.length) { mount(board, h('p', null, t('ach.boardEmpty'))); return; }
    mount(board, h('p', { class: 'hint' }, t('ach.boardOf', { gym: b.gym || gym })), h('table', { id: 'leaderboard' },
      h('thead', null, h('tr', null, h('th', { scope: 'col', class: 'num' }, '#'), h('th', { scope: 'col' }, t('ach.who')),
        h('th', { scope: 'col', class: 'num' }, t('wo.trimp')), h('th', { scope: 'col', class: 'num' }, t('wo.duration')))),
      h('tbody', null, rows.map((r) => h('tr', { class: r.you ? 'me' : null, 'aria-current': r.you ? 'true' : null },
        h('td', { class: 'num' }, num(r.rank)), h('td', null, r.you ? t('ach.you') : t('ach.athlete')),
        h('td', { class: 'num' }, num(r.trimp)), h('td', { class: 'num' }, duration(r.duration_s)))))));
  })();
}
