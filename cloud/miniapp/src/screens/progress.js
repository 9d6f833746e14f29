// screens/progress.js - weekly totals and their trend, personal records, and
// how this week compares with earlier weeks and with other users.
import { get, items } from '../api.js';
import { lineChart } from '../chart.js';
import { errorNotice } from '../errors.js';
import { date, duration, num, t } from '../i18n.js';
import { h, kv, mount, section, spinner } from '../ui.js';

export const EP = { progress: '/api/v1/progress' };

const RECORD_KEYS = {
  longest_s: ['rec.longest', (v) => duration(v)],
  duration_s: ['rec.longest', (v) => duration(v)],
  distance_m: ['rec.distance', (v) => `${num(v / 1000, 2)} ${t('unit.km')}`],
  max_hr: ['rec.maxHr', (v) => `${num(v)} ${t('unit.bpm')}`],
  max_power: ['rec.maxPower', (v) => `${num(v)} ${t('unit.w')}`],
  avg_power: ['rec.avgPower', (v) => `${num(v)} ${t('unit.w')}`],
  max_speed: ['rec.maxSpeed', (v) => `${num(v * 3.6, 1)} ${t('unit.kmh')}`],
  energy_j: ['rec.energy', (v) => `${num(v / 4184)} ${t('unit.kcal')}`],
  pace_s_per_km: ['rec.pace', (v) => `${duration(v)} /${t('unit.km')}`],
  trimp: ['wo.trimp', (v) => num(v)],
  streak_days: ['ach.streak', (v) => t('ach.days', { n: v })],
};

export function render(view, app) {
  view.append(h('h1', null, t('pr.title')));
  const box = h('div', null, spinner());
  view.append(box, h('p', null, h('a', { href: '#/achievements', class: 'button secondary' }, t('more.achievements'))));
  let chart = null;
  (async function load() {
    let p;
    try {
      p = await get(EP.progress);
    } catch (e) {
      mount(box, errorNotice(e, load));
      return;
    }
    const weeks = items(p.weeks || p.weekly, 'weeks').slice().sort((a, b) => (a.week_start_ms ?? a.start_ms) - (b.week_start_ms ?? b.start_ms));
    const cur = weeks[weeks.length - 1] || {};
    const prev = weeks[weeks.length - 2] || {};
    const delta = (a, b) => (b ? Math.round((100 * (a - b)) / b) : null);
    const parts = [];
    parts.push(section(t('pr.thisWeek'), kv([
      [t('pr.workouts'), num(cur.workouts ?? 0)],
      [t('wo.duration'), duration(cur.duration_s ?? 0)],
      [t('wo.distance'), cur.distance_m ? `${num(cur.distance_m / 1000, 1)} ${t('unit.km')}` : null],
      [t('wo.energy'), cur.energy_j ? `${num(cur.energy_j / 4184)} ${t('unit.kcal')}` : null],
    ]), prev.duration_s ? h('p', { class: 'hint', id: 'vs-last-week' },
      t('pr.vsLast', { pct: `${delta(cur.duration_s || 0, prev.duration_s) >= 0 ? '+' : ''}${delta(cur.duration_s || 0, prev.duration_s)} %` })) : null));
    if (weeks.length > 1) {
      const el = h('div', { class: 'chart', id: 'weekly-chart' });
      parts.push(section(t('pr.trend'), el,
        h('table', { class: 'sr-only' }, h('caption', null, t('pr.trend')),
          weeks.map((w) => h('tr', null, h('td', null, date(w.week_start_ms ?? w.start_ms)), h('td', null, duration(w.duration_s || 0)))))));
      box.replaceChildren(...parts);
      chart = lineChart(el, { series: [{ label: t('unit.min'), unit: t('unit.min') }], height: 150, ariaLabel: t('pr.trend') });
      chart.setData([weeks.map((w) => (w.week_start_ms ?? w.start_ms) / 1000), weeks.map((w) => Math.round((w.duration_s || 0) / 60))]);
    }
    const recs = p.records;
    if (recs && (Array.isArray(recs) ? recs.length : Object.keys(recs).length)) {
      const rows = Array.isArray(recs) ? recs.map((r) => [r.kind || r.code || r.metric, r.value, r])
        : Object.entries(recs).map(([k, v]) => [k, typeof v === 'object' ? v.value : v, typeof v === 'object' ? v : {}]);
      parts.push(section(t('pr.records'), h('ul', { class: 'list', id: 'records' }, rows.map(([k, v, r]) => {
        const [label, fmt] = RECORD_KEYS[k] || [null, num];
        return h('li', null, h(r.workout_id ? 'a' : 'div', { class: 'row', href: r.workout_id ? `#/workouts/${r.workout_id}` : undefined },
          h('div', { class: 'main' }, h('div', { class: 'title' }, label ? t(label) : k),
            r.at_ms || r.start_ms ? h('div', { class: 'sub' }, date(r.at_ms || r.start_ms)) : null),
          h('div', { class: 'side' }, fmt(v))));
      }))));
    }
    const cmp = p.compare || p.comparison || p.percentiles;
    if (cmp) {
      const rows = [];
      const pct = cmp.percentile ?? cmp.duration_percentile ?? cmp.week_duration_percentile;
      if (typeof pct === 'number') rows.push(h('p', { id: 'percentile' }, t('pr.percentile', { pct: num(pct) })));
      if (typeof cmp.vs_avg_pct === 'number') rows.push(h('p', null, t('pr.vsAvg', { pct: `${cmp.vs_avg_pct >= 0 ? '+' : ''}${num(cmp.vs_avg_pct)} %` })));
      if (typeof cmp.last_vs_avg_hr === 'number') rows.push(h('p', null, t('pr.lastHr', { d: `${cmp.last_vs_avg_hr >= 0 ? '+' : ''}${num(cmp.last_vs_avg_hr)}` })));
      if (rows.length) parts.push(section(t('pr.compare'), rows));
    }
    if (!weeks.length && !parts.slice(1).length) parts.push(h('p', { id: 'no-progress' }, t('wo.none')));
    box.replaceChildren(...parts);
  })();
  return () => chart && chart.destroy();
}
