// screens/devices.js - my devices (unpair, wheel size), what a gateway sees
// nearby (pair), and a shared gym machine by its QR sticker (Telegram's QR
// scanner, or the code typed in a plain browser).
import { del, get, items, post, put } from '../api.js';
import { errorNotice, errorText } from '../errors.js';
import { dateTime, num, t } from '../i18n.js';
import { canScanQr, haptic, scanQr, tg } from '../tg.js';
import { field, h, mount, notice, section, spinner, toast } from '../ui.js';

export const EP = {
  devices: '/api/v1/devices',
  bind: '/api/v1/devices/bind', // {device, gateway?}
  unbind: '/api/v1/devices/unbind', // {device}
  wheel: (id) => `/api/v1/devices/${encodeURIComponent(id)}/wheel`, // PUT {wheel_mm}
  nearby: (gw) => `/api/v1/gateways/${encodeURIComponent(gw)}/nearby`,
  gym: '/api/v1/gym/session', // POST {qr} / GET / DELETE
};
const GW_KEY = 'fitgate.gateway';
const WHEEL_KINDS = /csc|speed|bike|cycl|wheel/i;

export function render(view, app) {
  view.append(h('h1', null, t('dev.title')));
  const mine = h('div', null, spinner());
  const nearby = h('div');
  const gym = h('div', null, spinner());
  view.append(section(t('dev.mine'), mine), section(t('dev.nearby'), nearby), section(t('dev.gym'), gym));
  const reload = () => loadMine(mine, reload);
  reload();
  nearbyForm(nearby, reload);
  loadGym(gym);
}

function kindName(k) {
  const key = 'kind.' + (k || 'other');
  const s = t(key);
  return s === key ? k : s;
}

async function loadMine(box, reload) {
  let list;
  try {
    list = items(await get(EP.devices), 'devices');
  } catch (e) {
    mount(box, errorNotice(e, reload));
    return;
  }
  if (!list.length) { mount(box, h('p', { id: 'no-devices' }, t('dev.none'))); return; }
  mount(box, h('ul', { class: 'list', id: 'my-devices' }, list.map((d) => {
    const id = d.device || d.device_id || d.id;
    const li = h('li', { 'data-device': id });
    const row = h('div', { class: 'row' },
      h('div', { class: 'main' },
        h('div', { class: 'title' }, d.name || id),
        h('div', { class: 'sub' }, [kindName(d.kind), d.name ? id : null,
          typeof d.battery === 'number' ? `${t('live.battery')} ${num(d.battery)} %` : null,
          d.last_seen_ms ? t('dev.seen', { when: dateTime(d.last_seen_ms) }) : null].filter(Boolean).join(' · '))),
      h('button', { type: 'button', class: 'secondary', 'aria-label': t('dev.unpairOf', { name: d.name || id }),
                    onclick: async () => {
                      try {
                        await post(EP.unbind, { device: id });
                        haptic('warning');
                        toast(t('dev.unpaired', { name: d.name || id }));
                        reload();
                      } catch (e) { toast(errorText(e), 'error'); }
                    } }, t('dev.unpair')));
    li.append(row);
    if (WHEEL_KINDS.test(d.kind || '') || d.wheel_mm) li.append(wheelForm(id, d.wheel_mm));
    return li;
  })));
}

// Wheel circumference in millimetres (speed and distance from a CSC sensor).
function wheelForm(id, current) {
  const input = h('input', { type: 'number', name: 'wheel_mm', min: '500', max: '3500', step: '1',
                             inputmode: 'numeric', value: current || 2105 });
  const msg = h('p', { class: 'form-error', role: 'alert' });
  const f = h('form', { class: 'wheel', novalidate: true },
    field(t('dev.wheel'), input, t('dev.wheelHint')), msg,
    h('button', { type: 'submit', class: 'secondary' }, t('common.save')));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    const v = Number(input.value);
    if (!(v >= 500 && v <= 3500)) { msg.textContent = t('dev.wheelRange'); return; }
    try {
      await put(EP.wheel(id), { wheel_mm: Math.round(v) });
      toast(t('dev.saved'));
    } catch (e) { msg.textContent = errorText(e); }
  });
  return h('div', { class: 'row' }, f);
}

function nearbyForm(box, reloadMine) {
  let saved = '';
  try { saved = localStorage.getItem(GW_KEY) || ''; } catch (_) { /* ignore */ }
  // A gateway's own link (t.me/<bot>?startapp=gw-<id>) opens the app with it.
  const fromStart = tg.startParam && /^gw[-_]/.test(tg.startParam) ? tg.startParam.replace(/^gw[-_]/, '') : '';
  const input = h('input', { type: 'text', name: 'gateway', id: 'gateway', autocapitalize: 'off', spellcheck: 'false',
                             value: fromStart || saved });
  const out = h('div', { id: 'nearby-list', 'aria-live': 'polite' });
  const f = h('form', { id: 'nearby-form', novalidate: true },
    field(t('dev.gateway'), input, t('dev.gatewayHint')),
    h('button', { type: 'submit', class: 'primary' }, t('dev.look')));
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const gw = input.value.trim();
    if (!gw) { mount(out, notice('error', t('dev.gatewayEmpty'))); input.focus(); return; }
    try { localStorage.setItem(GW_KEY, gw); } catch (_) { /* ignore */ }
    loadNearby(out, gw, reloadMine);
  });
  mount(box, h('p', { class: 'hint' }, t('dev.nearbyHint')), f, out);
  if (input.value) loadNearby(out, input.value, reloadMine);
}

async function loadNearby(out, gw, reloadMine) {
  mount(out, spinner(t('dev.searching')));
  let list;
  try {
    list = items(await get(EP.nearby(gw)), 'devices');
  } catch (e) {
    mount(out, e.code === 'no_gateway' || e.code === 'unknown_gateway'
      ? notice('error', t('dev.noGateway')) : errorNotice(e, () => loadNearby(out, gw, reloadMine)));
    return;
  }
  if (!list.length) { mount(out, notice('info', t('dev.nothingNearby'), { label: t('common.retry'), run: () => loadNearby(out, gw, reloadMine) })); return; }
  list.sort((a, b) => (b.rssi ?? -200) - (a.rssi ?? -200));
  mount(out, h('ul', { class: 'list' }, list.map((d) => {
    const id = d.device || d.device_id || d.id;
    const mine = d.bound_to_me || d.mine;
    const taken = !mine && (d.bound || d.owned);
    return h('li', { 'data-device': id }, h('div', { class: 'row' },
      h('div', { class: 'main' },
        h('div', { class: 'title' }, d.name || id),
        h('div', { class: 'sub' }, [kindName(d.kind), d.name ? id : null,
          typeof d.rssi === 'number' ? t('dev.signal', { dbm: d.rssi }) : null,
          typeof d.hr === 'number' ? `${Math.round(d.hr)} ${t('unit.bpm')}` : null].filter(Boolean).join(' · '))),
      mine ? h('span', { class: 'badge ok' }, t('dev.yours'))
        : taken ? h('span', { class: 'badge' }, t('dev.taken'))
          : h('button', { type: 'button', class: 'primary', 'aria-label': t('dev.pairOf', { name: d.name || id }),
                          onclick: async (ev) => {
                            ev.target.disabled = true;
                            try {
                              await post(EP.bind, { device: id, gateway: gw });
                              haptic('success');
                              toast(t('dev.paired', { name: d.name || id }));
                              reloadMine();
                              loadNearby(out, gw, reloadMine);
                            } catch (e) {
                              ev.target.disabled = false;
                              haptic('error');
                              toast(errorText(e), 'error');
                            }
                          } }, t('dev.pair'))));
  })));
}

async function loadGym(box) {
  let cur = null;
  try {
    cur = await get(EP.gym);
  } catch (_) {
    cur = null; // 404: no machine session now (starting one reports any real failure)
  }
  if (cur && (cur.machine || cur.device || cur.id)) {
    mount(box,
      h('p', { id: 'gym-active' }, t('dev.gymOn', { name: cur.machine_name || cur.machine || cur.device })),
      cur.started_ms ? h('p', { class: 'hint' }, t('dev.gymSince', { when: dateTime(cur.started_ms) })) : null,
      h('button', { type: 'button', class: 'danger', onclick: async () => {
        try { await del(EP.gym); haptic('success'); toast(t('dev.gymEnded')); loadGym(box); } catch (e) { toast(errorText(e), 'error'); }
      } }, t('dev.gymEnd')));
    return;
  }
  gymStart(box);
}

function gymStart(box) {
  const input = h('input', { type: 'text', name: 'machine', autocapitalize: 'off', spellcheck: 'false' });
  const msg = h('p', { class: 'form-error', role: 'alert' });
  async function start(code) {
    msg.textContent = '';
    try {
      await post(EP.gym, { qr: code });
      haptic('success');
      loadGym(box);
    } catch (e) {
      haptic('error');
      msg.textContent = errorText(e);
    }
  }
  const scan = canScanQr()
    ? h('button', { type: 'button', class: 'primary', id: 'scan-qr', onclick: async () => {
      const code = await scanQr(t('dev.scanText'));
      if (code) start(code);
    } }, t('dev.scan'))
    : null;
  const f = h('form', { id: 'gym-form', novalidate: true },
    field(t('dev.machineCode'), input, t(scan ? 'dev.machineHintTg' : 'dev.machineHint')), msg,
    h('button', { type: 'submit', class: scan ? 'secondary' : 'primary' }, t('dev.gymStart')));
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const code = input.value.trim();
    if (!code) { msg.textContent = t('dev.machineEmpty'); input.focus(); return; }
    start(code);
  });
  mount(box, h('p', { class: 'hint' }, t('dev.gymHint')), scan, f);
}
