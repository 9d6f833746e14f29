// screens/workouts.js - the list of finished workouts (paged) and one
// workout's details: summary, heart-rate zones, charts of HR/speed/power.
import { get, items } from '../api.js';
import { lineChart } from '../chart.js';
import { errorNotice } from '../errors.js';
import { dateTime, duration, num, t } from '../i18n.js';
import { h, kv, mount, notice, section, spinner } from '../ui.js';
import { ZONES } from '../zones.js';

export const EP = {
  list: '/api/v1/workouts',
  one: (id) => `/api/v1/workouts/${encodeURIComponent(id)}`,
};

export function render(view, app, id) {
  return id ? details(view, app, id) : list(view, app);
}

// Tolerant readers: the summary may be flat or nested under "metrics".
const m = (w) => {
  const x = { ...w, ...(w.metrics || w.summary || {}) };
  if (x.duration_s === undefined && x.end_ms > x.start_ms) x.duration_s = (x.end_ms - x.start_ms) / 1000;
  return x;
};
const hrOf = (w) => w.heart_rate || { avg: w.avg_hr, max: w.max_hr, zones_s: w.zones_s };
const kcal = (w) => (w.energy_kcal ?? (w.energy_j ? w.energy_j / 4184 : w.calories));
const kindText = (k) => {
  const key = 'kind.' + (k || 'other');
  const s = t(key);
  return s === key ? k : s;
};

function list(view) {
  view.append(h('h1', null, t('wo.title')));
  const ul = h('ul', { class: 'list', id: 'workouts' });
  const more = h('div');
  const box = h('div', null, spinner());
  view.append(box);
  let cursor = null;
  async function page() {
    let body;
    try {
      body = await get(`${EP.list}?limit=20${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`);
    } catch (e) {
      if (!ul.childElementCount) mount(box, errorNotice(e, page));
      else mount(more, errorNotice(e, page));
      return;
    }
    const ws = items(body, 'workouts');
    cursor = body?.next_cursor || body?.next || null;
    if (!ul.isConnected) mount(box, ul, more);
    if (!ws.length && !ul.childElementCount) { mount(box, h('p', { id: 'no-workouts' }, t('wo.none'))); return; }
    for (const w0 of ws) {
      const w = m(w0);
      const hr = hrOf(w);
      ul.append(h('li', null, h('a', { class: 'row', href: `#/workouts/${w.id}`, 'data-id': w.id },
        h('div', { class: 'main' },
          h('div', { class: 'title' }, dateTime(w.start_ms), w.in_progress ? h('span', { class: 'badge ok' }, ' ', t('wo.inProgress')) : null),
          h('div', { class: 'sub' }, [w.gym ? t('wo.at', { gym: w.gym }) : kindText(w.kind), duration(w.duration_s),
            w.distance_m ? `${num(w.distance_m / 1000, 2)} ${t('unit.km')}` : null].filter(Boolean).join(' · '))),
        h('div', { class: 'side' }, hr?.avg ? `♥ ${num(hr.avg)}` : '', h('span', { 'aria-hidden': 'true' }, ' ›')))));
    }
    mount(more, cursor ? h('button', { type: 'button', class: 'secondary', onclick: page }, t('common.more')) : null);
  }
  page();
}

// series as [{t_s (from the start), hr, speed, power}, ...] (or columns)
function columns(series, startMs) {
  if (!series) return null;
  if (Array.isArray(series)) {
    const c = { ts: [], hr: [], speed: [], power: [] };
    for (const p of series) {
      c.ts.push(p.ts ?? p.t ?? (startMs + p.t_s * 1000));
      c.hr.push(p.hr ?? p.v?.hr ?? null);
      c.speed.push(p.speed ?? p.v?.speed ?? null);
      c.power.push(p.power ?? p.v?.power ?? null);
    }
    return c;
  }
  return { ts: series.ts || series.t || [], hr: series.hr || [], speed: series.speed || [], power: series.power || [] };
}

// 'stopped-<ms>': the workout just finished on the live screen (the one that
// had started by the stop; a strap still worn starts a new one right after).
// The server completes it from the bus a moment after the stop: wait for that.
async function stopped(atMs, tries) {
  for (let i = 0; ; i++) {
    const w = items(await get(`${EP.list}?limit=5`), 'items').find((x) => x.start_ms <= atMs);
    if (!w) return null;
    if (!w.in_progress || i >= tries) return w;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function details(view, app, id) {
  const box = h('div', null, spinner());
  view.append(box);
  const charts = [];
  (async function load() {
    let w;
    try {
      const stop = /^stopped-(\d+)$/.exec(id);
      if (stop) {
        const l = await stopped(Number(stop[1]), 15);
        if (!l) { mount(box, h('p', { id: 'no-workouts' }, t('wo.none'))); return; }
        history.replaceState(null, '', `#/workouts/${l.id}`);
        id = String(l.id);
      }
      w = m(await get(EP.one(id)));
    } catch (e) {
      mount(box, errorNotice(e, load));
      return;
    }
    const hr = hrOf(w) || {};
    const k = kcal(w);
    mount(box,
      h('h1', { id: 'workout-title', 'data-id': w.id }, t('wo.one', { when: dateTime(w.start_ms) })),
      w.in_progress ? notice('info', t('wo.stillOn')) : null,
      w.gym ? h('p', { class: 'hint' }, t('wo.at', { gym: w.gym })) : null,
      section(t('wo.summary'), kv([
        [t('wo.duration'), duration(w.duration_s)],
        [t('wo.avgHr'), hr.avg ? `${num(hr.avg)} ${t('unit.bpm')}` : null],
        [t('wo.maxHr'), hr.max ? `${num(hr.max)} ${t('unit.bpm')}` : null],
        [t('wo.energy'), k ? `${num(k)} ${t('unit.kcal')}` : null],
        [t('wo.distance'), w.distance_m ? `${num(w.distance_m / 1000, 2)} ${t('unit.km')}` : null],
        [t('wo.pace'), w.pace_s_per_km ? `${duration(w.pace_s_per_km)} /${t('unit.km')}` : null],
        [t('wo.speed'), w.avg_speed ? `${num(w.avg_speed * 3.6, 1)} ${t('unit.kmh')}` : null],
        [t('wo.power'), w.avg_power ? `${num(w.avg_power)} ${t('unit.w')}` : null],
        [t('wo.cadence'), w.avg_cadence ? num(w.avg_cadence) : null],
        [t('wo.trimp'), w.trimp ? num(w.trimp) : null],
      ])));
    const zs = hr.zones_s || w.zones_s;
    if (Array.isArray(zs) && zs.some((x) => x > 0)) {
      const total = zs.reduce((a, b) => a + b, 0) || 1;
      box.append(section(t('wo.zones'), h('ul', { class: 'bars', id: 'zones' }, ZONES.map((z, i) => {
        const bar = h('span');
        bar.style.width = `${(100 * (zs[i] || 0)) / total}%`;
        return h('li', { class: 'z' + z.n },
          h('span', null, `${t('live.zone', { n: z.n })}`),
          h('span', { class: 'bar', role: 'img', 'aria-label': `${Math.round((100 * (zs[i] || 0)) / total)} %` }, bar),
          h('span', { class: 'num' }, duration(zs[i] || 0)));
      }))));
    }
    const c = columns(w.series || w.points, w.start_ms || 0);
    if (c && c.ts.length > 1) {
      const xs = c.ts.map((x) => (x > 1e11 ? x / 1000 : x));
      const plots = [
        ['hr', t('wo.chartHr'), t('unit.bpm'), '#c62828', (v) => v],
        ['speed', t('wo.chartSpeed'), t('unit.kmh'), '#1f6fd1', (v) => (v === null ? null : v * 3.6)],
        ['power', t('wo.chartPower'), t('unit.w'), '#b35900', (v) => v],
      ];
      for (const [key, title, unit, color, f] of plots) {
        if (!c[key].some((v) => typeof v === 'number')) continue;
        const el = h('div', { class: 'chart', id: 'chart-' + key });
        box.append(section(title, el));
        const ch = lineChart(el, { series: [{ label: title, unit, color }], height: 150, ariaLabel: title });
        ch.setData([xs, c[key].map((v) => (typeof v === 'number' ? f(v) : null))]);
        charts.push(ch);
      }
    }
  })();
  return () => charts.forEach((c) => c.destroy());
}
