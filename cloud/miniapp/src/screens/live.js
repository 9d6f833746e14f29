// screens/live.js - the live workout: big current heart rate in its zone's
// colour, a scrolling chart of the last minutes, elapsed time, the device and
// its battery. Readings come from the app-wide stream (app.live).
import { lineChart } from '../chart.js';
import { duration, num, t } from '../i18n.js';
import { post } from '../api.js';
import { errorText } from '../errors.js';
import { confirmClosing, haptic, hideMainButton, setMainButton } from '../tg.js';
import { h, toast } from '../ui.js';
import { maxHr, ZONES, zoneOf } from '../zones.js';

const WINDOW_S = 10 * 60;
const GAP_S = 120; // a pause longer than this starts a new session on screen

export function render(view, app) {
  const max = maxHr(app.user);
  const hr = h('span', { id: 'hr', class: 'hr', 'aria-live': 'off' }, '--');
  const zoneEl = h('p', { id: 'zone', class: 'zone', 'aria-live': 'polite' }, t('live.waiting'));
  const elapsed = h('dd', { id: 'elapsed' }, '–');
  const battery = h('dd', { id: 'battery' }, '–');
  const rr = h('dd', { id: 'rr' }, '–');
  const contact = h('dd', { id: 'contact' }, '–');
  const device = h('span', { id: 'device' }, '–');
  const chartBox = h('div', { class: 'chart', id: 'live-chart' });
  const wrap = h('section', { class: 'live', 'aria-labelledby': 'live-title' },
    h('h1', { id: 'live-title', class: 'sr-only' }, t('live.title')),
    h('div', { class: 'hr-wrap', role: 'group', 'aria-label': t('live.current') },
      hr, h('span', { class: 'unit' }, t('unit.bpm'))),
    zoneEl,
    chartBox,
    h('dl', { class: 'extras' },
      h('div', null, h('dt', null, t('live.elapsed')), elapsed),
      h('div', null, h('dt', null, t('live.battery')), battery),
      h('div', null, h('dt', null, t('live.rr')), rr),
      h('div', null, h('dt', null, t('live.contact')), contact)),
    h('p', { class: 'device' }, t('live.device'), ' ', device));
  view.append(wrap);

  const chart = lineChart(chartBox, {
    series: [{ label: t('unit.bpm'), unit: t('unit.bpm') }], height: 140,
    ariaLabel: t('live.chart'),
    // Whole beats with some room: a steady pulse is a calm line, not noise.
    yRange: (u, min, max) => (min === null ? [50, 150] : [Math.floor(min - 5), Math.ceil(max + 5)]),
  });
  // One strap at a time: a user may own several (a chest strap and a watch);
  // the one shown is the last chosen, else the first that sent a heart rate.
  const devs = new Map(); // dev -> {xs, ys, start, lastTs, v: last values}
  const picker = h('select', { id: 'device-select', 'aria-label': t('live.pick'), hidden: true });
  picker.addEventListener('change', () => { app.liveDevice = picker.value; paint(); });
  device.after(picker);

  function stateOf(dev) {
    let d = devs.get(dev);
    if (!d) {
      d = { xs: [], ys: [], start: 0, lastTs: 0, v: {} };
      devs.set(dev, d);
      picker.append(h('option', { value: dev }, dev));
      picker.hidden = devs.size < 2;
      device.classList.toggle('sr-only', devs.size >= 2);
    }
    return d;
  }

  function take(r) {
    const v = r.v || {};
    const d = stateOf(r.dev || '');
    const ts = r.ts / 1000;
    if (typeof v.hr === 'number') {
      if (!d.start || ts - d.lastTs > GAP_S) d.start = ts;
      d.lastTs = Math.max(d.lastTs, ts);
      d.xs.push(ts); d.ys.push(v.hr);
      if (!app.liveDevice) app.liveDevice = r.dev || '';
    }
    Object.assign(d.v, v);
  }

  function paint() {
    const dev = app.liveDevice;
    const d = dev !== undefined && devs.get(dev);
    if (!d) return;
    picker.value = dev;
    device.textContent = dev || '–';
    const v = d.v;
    if (typeof v.hr === 'number') {
      const bpm = Math.round(v.hr);
      hr.textContent = String(bpm);
      const z = zoneOf(bpm, max);
      const zone = ZONES[z - 1];
      wrap.dataset.zone = String(z);
      zoneEl.textContent = zone ? `${t('live.zone', { n: z })} · ${t(zone.key)}` : t('zone.rest');
    }
    rr.textContent = Array.isArray(v.rr) && v.rr.length ? v.rr.slice(-2).map((x) => num(x * 1000)).join(' / ') + ' ' + t('unit.ms') : '–';
    contact.textContent = typeof v.contact === 'number' ? (v.contact ? t('common.yes') : t('common.no')) : '–';
    battery.textContent = typeof v.battery === 'number' ? num(v.battery) + ' %' : '–';
    redraw();
  }

  function redraw() {
    const now = Date.now() / 1000;
    for (const d of devs.values()) {
      while (d.xs.length && d.xs[0] < now - WINDOW_S) { d.xs.shift(); d.ys.shift(); }
    }
    const d = devs.get(app.liveDevice);
    if (!d) return;
    chart.setData([d.xs.slice(), d.ys.slice()]);
    const active = d.start && now - d.lastTs < GAP_S;
    elapsed.textContent = active ? duration(now - d.start) : '–';
    // "Finish workout" only while one is going on.
    if (active && !finishing && !shown) { setMainButton(t('live.finish'), finish); confirmClosing(true); shown = true; }
    if (!active && shown && !finishing) { hideMainButton(); confirmClosing(false); shown = false; }
  }
  let shown = false, finishing = false;

  for (const r of app.live.recent) take(r);
  paint();
  const off = app.live.subscribe((r) => { take(r); if ((r.dev || '') === app.liveDevice) paint(); });
  const tick = setInterval(redraw, 1000);

  // Finish: the workout ends now (not after the idle timeout) and its
  // summary opens as soon as the server has computed it.
  async function finish() {
    finishing = true;
    setMainButton(t('live.finish'), finish, { busy: true });
    try {
      const r = await post('/api/v1/workouts/stop');
      haptic('success');
      app.go(`workouts/stopped-${Math.round(r?.stopped_at_ms || Date.now())}`);
    } catch (e) {
      haptic('error');
      toast(errorText(e), 'error');
      setMainButton(t('live.finish'), finish);
    } finally {
      finishing = false;
    }
  }
  redraw();
  return () => { off(); clearInterval(tick); chart.destroy(); hideMainButton(); confirmClosing(false); };
}
