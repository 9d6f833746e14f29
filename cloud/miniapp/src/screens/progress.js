// screens/progress.js - weekly totals and their trend, personal records, the
// last workout against earlier similar ones, and the standing among others.
import { get, items } from '../api.js';
import { lineChart } from '../chart.js';
import { errorNotice } from '../errors.js';
import { date, duration, num, t } from '../i18n.js';
import { h, kv, mount, section, spinner } from '../ui.js';

export const EP = { progress: '/api/v1/progress' };

const km = (m) => `${num(m / 1000, 1)} ${t('unit.km')}`;
const kcal = (j) => `${num(j / 4184)} ${t('unit.kcal')}`;
const RECORDS = {
  longest_duration_s: ['rec.longest', (v) => duration(v)],
  longest_distance_m: ['rec.distance', km],
  most_energy_j: ['rec.energy', kcal],
  highest_training_load: ['rec.load', (v) => num(v)],
  best_pace_s_per_km: ['rec.pace', (v) => `${duration(v)} /${t('unit.km')}`],
};
const signed = (v, fmt) => `${v >= 0 ? '+' : '−'}${fmt(Math.abs(v))}`;

export function render(view) {
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
    const weeks = items(p.weekly || p.weeks, 'weeks').slice().sort((a, b) => a.week_start_ms - b.week_start_ms);
    const tr = p.trend || {};
    const cur = weeks.find((w) => Date.now() - w.week_start_ms < 7 * 86400000) || {};
    const parts = [];
    parts.push(section(t('pr.thisWeek'), kv([
      [t('pr.workouts'), num(cur.workouts ?? 0)],
      [t('wo.duration'), duration(tr.this_week_duration_s ?? cur.duration_s ?? 0)],
      [t('wo.distance'), cur.distance_m ? km(cur.distance_m) : null],
      [t('wo.energy'), cur.energy_j ? kcal(cur.energy_j) : null],
    ]), typeof tr.change_pct === 'number'
      ? h('p', { class: 'hint', id: 'vs-last-week' }, t('pr.vsLast', { pct: `${signed(tr.change_pct, (x) => num(x))} %` }))
      : null));
    const chartBox = weeks.length > 1 ? h('div', { class: 'chart', id: 'weekly-chart' }) : null;
    if (chartBox) {
      parts.push(section(t('pr.trend'), chartBox,
        h('table', { class: 'sr-only' }, h('caption', null, t('pr.trend')),
          h('tbody', null, weeks.map((w) => h('tr', null, h('td', null, date(w.week_start_ms)), h('td', null, duration(w.duration_s || 0))))))));
    }
    const recs = Object.entries(p.records || {}).filter(([k]) => RECORDS[k]);
    if (recs.length) {
      parts.push(section(t('pr.records'), h('ul', { class: 'list', id: 'records' }, recs.map(([k, r]) => {
        const [label, fmt] = RECORDS[k];
        return h('li', null, h('a', { class: 'row', href: `#/workouts/${r.workout_id}` },
          h('div', { class: 'main' }, h('div', { class: 'title' }, t(label))),
          h('div', { class: 'side' }, fmt(r.value), h('span', { 'aria-hidden': 'true' }, ' ›'))));
      }))));
    }
    const own = p.compared_with_own;
    if (own && own.similar_earlier > 0 && own.difference) {
      const d = own.difference;
      parts.push(section(t('pr.vsOwn'), h('p', null, t('pr.vsOwnIntro', { n: own.similar_earlier })),
        kv([
          [t('wo.avgHr'), typeof d.avg_hr === 'number' ? `${signed(d.avg_hr, (x) => num(x))} ${t('unit.bpm')}` : null],
          [t('wo.distance'), d.distance_m ? signed(d.distance_m, km) : null],
          [t('wo.energy'), d.energy_j ? signed(d.energy_j, kcal) : null],
          [t('wo.trimp'), typeof d.trimp === 'number' ? signed(d.trimp, (x) => num(x)) : null],
        ]), h('p', null, h('a', { href: `#/workouts/${own.workout_id}` }, t('pr.lastWorkout')))));
    }
    const oth = p.compared_with_others;
    if (oth) {
      let body;
      if (oth.status === 'ok') {
        body = [h('p', { id: 'percentile' }, t('pr.percentile', { pct: num(oth.duration_percentile), days: oth.cohort_days ?? 28 })),
          typeof oth.training_load_percentile === 'number'
            ? h('p', null, t('pr.percentileLoad', { pct: num(oth.training_load_percentile) })) : null,
          h('p', { class: 'hint' }, t('pr.cohort', { n: oth.cohort_users }))];
      } else {
        body = h('p', { class: 'hint' }, t({ opted_out: 'pr.optedOut', too_few_users: 'pr.tooFew' }[oth.status] || 'pr.noData'));
      }
      parts.push(section(t('pr.compare'), body));
    }
    if (!weeks.length) parts.push(h('p', { id: 'no-progress' }, t('wo.none')));
    box.replaceChildren(...parts);
    if (chartBox) {
      chart = lineChart(chartBox, { series: [{ label: t('unit.min'), unit: t('unit.min') }], height: 150, ariaLabel: t('pr.trend') });
      chart.setData([weeks.map((w) => w.week_start_ms / 1000), weeks.map((w) => Math.round((w.duration_s || 0) / 60))]);
    }
  })();
  return () => chart && chart.destroy();
}
