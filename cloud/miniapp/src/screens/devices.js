// screens/devices.js - my devices (unpair, wheel size), my home gateways
// (add one with the code from its box or an invite; owners invite), what a
// gateway of mine sees nearby (pair), and a shared gym machine by its QR
// sticker (Telegram's QR scanner, or the code typed in a plain browser).
// Only members of a gateway see its nearby list: it names the devices around
// someone's home.
import { del, get, items, post } from '../api.js';
import { errorNotice, errorText } from '../errors.js';
import { dateTime, num, t } from '../i18n.js';
import { canScanQr, haptic, scanQr, tg } from '../tg.js';
import { field, h, mount, notice, section, spinner, toast } from '../ui.js';

export const EP = {
  devices: '/api/v1/devices',
  bind: '/api/v1/devices/bind', // {device, gateway?}
  unbind: '/api/v1/devices/unbind', // {device}
  wheel: (id) => `/api/v1/devices/${encodeURIComponent(id)}/wheel`, // POST {circumference_m}
  nearby: (gw, refresh) => `/api/v1/gateways/${encodeURIComponent(gw)}/nearby${refresh ? '?refresh=1' : ''}`,
  gym: '/api/v1/gym/session', // POST {qr} / DELETE; the running one shows in the devices list
  gateways: '/api/v1/gateways', // [{gateway, role, since_ms, members?}]
  claim: (gw) => `/api/v1/gateways/${encodeURIComponent(gw)}/claim`, // POST {code}
  invite: (gw) => `/api/v1/gateways/${encodeURIComponent(gw)}/invites`, // POST -> {code, expires_ms}
};
// GATT services a gateway reports -> the kind of device.
const SERVICE_KIND = { '180d': 'hr', '1816': 'csc', '1818': 'power', '1826': 'bike', '1814': 'rsc',
                       '181d': 'scale', '1810': 'bp', '1822': 'spo2', '1809': 'thermo' };
const kindOfServices = (svc) => (svc || []).map((u) => SERVICE_KIND[String(u).toLowerCase()]).find(Boolean);
const GW_KEY = 'fitgate.gateway';
const WHEEL_KINDS = /csc|speed|bike|cycl|wheel/i;

export function render(view, app) {
  view.append(h('h1', null, t('dev.title')));
  const mine = h('div', null, spinner());
  const gws = h('div', { id: 'gateways' }, spinner());
  const nearby = h('div');
  const gym = h('div', { id: 'gym' }, spinner());
  view.append(section(t('dev.mine'), mine), section(t('dev.gateways'), gws),
    section(t('dev.nearby'), nearby), section(t('dev.gym'), gym));
  const state = { mine: [] };
  const reload = async () => {
    state.mine = await loadMine(mine, reload);
    showGym(gym, state.mine, reload);
  };
  const reloadGateways = async (pick) => {
    const list = await loadGateways(gws, reloadGateways);
    if (list) nearbyForm(nearby, reload, state, list, pick);
  };
  reload();
  reloadGateways();
}

// My home gateways, the owner's invite button, and the form that adds one.
async function loadGateways(box, reloadGateways) {
  let list;
  try {
    list = items(await get(EP.gateways), 'gateways');
  } catch (e) {
    mount(box, errorNotice(e, () => reloadGateways()));
    return null;
  }
  const rows = list.map((g) => {
    const out = h('p', { class: 'hint invite-code', 'aria-live': 'polite' });
    const invite = g.role === 'owner'
      ? h('button', { type: 'button', class: 'secondary', onclick: async () => {
        try {
          const r = await post(EP.invite(g.gateway));
          out.textContent = t('dev.inviteCode', { code: r.code, when: dateTime(r.expires_ms) });
        } catch (e) { toast(errorText(e), 'error'); }
      } }, t('dev.invite'))
      : null;
    return h('li', { 'data-gateway': g.gateway }, h('div', { class: 'row' },
      h('div', { class: 'main' }, h('div', { class: 'title' }, g.gateway),
        h('div', { class: 'sub' }, t(g.role === 'owner' ? 'dev.roleOwner' : 'dev.roleMember'))),
      invite), out);
  });
  mount(box, list.length ? h('ul', { class: 'list', id: 'my-gateways' }, rows)
    : h('p', { id: 'no-gateways' }, t('dev.noGateways')), claimForm(reloadGateways));
  return list;
}

function claimForm(reloadGateways) {
  const gw = h('input', { type: 'text', name: 'gateway', id: 'claim-gateway', autocapitalize: 'off', spellcheck: 'false' });
  const code = h('input', { type: 'text', name: 'code', id: 'claim-code', autocapitalize: 'characters',
                            spellcheck: 'false', autocomplete: 'off' });
  const msg = h('p', { class: 'form-error', role: 'alert' });
  const f = h('form', { id: 'claim-form', novalidate: true },
    h('h3', null, t('dev.addGateway')),
    field(t('dev.gateway'), gw, t('dev.gatewayHint')), field(t('dev.claimCode'), code, t('dev.claimHint')), msg,
    h('button', { type: 'submit', class: 'secondary' }, t('dev.claim')));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    const id = gw.value.trim();
    if (!id || !code.value.trim()) { msg.textContent = t('dev.claimEmpty'); return; }
    try {
      await post(EP.claim(id), { code: code.value.trim() });
      haptic('success');
      toast(t('dev.claimed', { gw: id }));
      reloadGateways(id);
    } catch (e) {
      haptic('error');
      msg.textContent = errorText(e);
    }
  });
  return f;
}

function kindName(k) {
  const key = 'kind.' + (k || 'other');
  const s = t(key);
  return s === key ? k : s;
}

async function loadMine(box, reload) {
  let all;
  try {
    all = items(await get(EP.devices), 'devices');
  } catch (e) {
    mount(box, errorNotice(e, reload));
    return null;
  }
  // A gym machine in a session is listed too: it has its own section.
  const list = all.filter((d) => !d.session);
  if (!list.length) { mount(box, h('p', { id: 'no-devices' }, t('dev.none'))); return all; }
  mount(box, h('ul', { class: 'list', id: 'my-devices' }, list.map((d) => {
    const id = d.device || d.device_id || d.id;
    const li = h('li', { 'data-device': id });
    const row = h('div', { class: 'row' },
      h('div', { class: 'main' },
        h('div', { class: 'title' }, d.name || id),
        h('div', { class: 'sub' }, [kindName(d.kind), d.name ? id : null,
          typeof d.battery === 'number' ? `${t('live.battery')} ${num(d.battery)} %` : null,
          d.gateway ? t('dev.via', { gw: d.gateway }) : null,
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
    if (WHEEL_KINDS.test(d.kind || '') || d.wheel_m) li.append(wheelForm(id, d.wheel_m));
    return li;
  })));
  return all;
}

// Wheel circumference in millimetres (speed and distance from a CSC sensor).
function wheelForm(id, currentM) {
  const input = h('input', { type: 'number', name: 'wheel_mm', min: '500', max: '3500', step: '1',
                             inputmode: 'numeric', value: currentM ? Math.round(currentM * 1000) : 2105 });
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
      await post(EP.wheel(id), { circumference_m: Math.round(v) / 1000 });
      toast(t('dev.saved'));
    } catch (e) { msg.textContent = errorText(e); }
  });
  return h('div', { class: 'row' }, f);
}

// Pick one of my gateways (the one just added, the last used, or the one a
// gateway's own link names) and look at what it sees.
function nearbyForm(box, reloadMine, state, gateways, pick) {
  if (!gateways.length) { mount(box, h('p', { class: 'hint', id: 'nearby-none' }, t('dev.nearbyFirst'))); return; }
  let saved = '';
  try { saved = localStorage.getItem(GW_KEY) || ''; } catch (_) { /* ignore */ }
  // A gateway's own link (t.me/<bot>?startapp=gw-<id>) opens the app with it.
  const fromStart = tg.startParam && /^gw[-_]/.test(tg.startParam) ? tg.startParam.replace(/^gw[-_]/, '') : '';
  const ids = gateways.map((g) => g.gateway);
  const chosen = [pick, fromStart, saved].find((g) => g && ids.includes(g)) || ids[0];
  const input = h('select', { name: 'gateway', id: 'gateway' },
    ids.map((g) => h('option', g === chosen ? { value: g, selected: true } : { value: g }, g)));
  const out = h('div', { id: 'nearby-list', 'aria-live': 'polite' });
  const f = h('form', { id: 'nearby-form', novalidate: true },
    field(t('dev.gateway'), input),
    h('button', { type: 'submit', class: 'primary' }, t('dev.look')));
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const gw = input.value.trim();
    if (!gw) { mount(out, notice('error', t('dev.gatewayEmpty'))); input.focus(); return; }
    try { localStorage.setItem(GW_KEY, gw); } catch (_) { /* ignore */ }
    // Pressed: ask the gateway for a fresh look (it may take a few seconds).
    loadNearby(out, gw, reloadMine, state, true);
  });
  mount(box, h('p', { class: 'hint' }, t('dev.nearbyHint')), f, out);
  // Opened: what the gateway last reported, if anything.
  loadNearby(out, input.value, reloadMine, state, false);
}

async function loadNearby(out, gw, reloadMine, state, refresh) {
  const again = () => loadNearby(out, gw, reloadMine, state, true);
  mount(out, spinner(t('dev.searching')));
  let snap;
  try {
    snap = await get(EP.nearby(gw, refresh));
  } catch (e) {
    if (!refresh && e.code === 'no_snapshot') { mount(out); return; } // nothing reported yet: wait for the button
    mount(out, errorNotice(e, again));
    return;
  }
  const list = items(snap, 'devices');
  if (!list.length) { mount(out, notice('info', t('dev.nothingNearby'), { label: t('common.retry'), run: again })); return; }
  list.sort((a, b) => (b.rssi ?? -200) - (a.rssi ?? -200));
  const mineIds = new Set((state.mine || []).map((d) => d.device));
  mount(out, snap.ts ? h('p', { class: 'hint' }, t('dev.seenAt', { when: dateTime(snap.ts) })) : null,
    h('ul', { class: 'list', id: 'nearby' }, list.map((d) => {
    const id = d.device || d.address || d.id;
    d.kind ||= kindOfServices(d.services);
    const mine = mineIds.has(id);
    const taken = !mine && d.bound;
    return h('li', { 'data-device': id }, h('div', { class: 'row' },
      h('div', { class: 'main' },
        h('div', { class: 'title' }, d.name || id),
        h('div', { class: 'sub' }, [kindName(d.kind), d.name ? id : null,
          typeof d.rssi === 'number' ? t('dev.signal', { dbm: d.rssi }) : null,
          typeof d.battery === 'number' ? `${t('live.battery')} ${num(d.battery)} %` : null].filter(Boolean).join(' · '))),
      mine ? h('span', { class: 'badge ok' }, t('dev.yours'))
        : taken ? h('span', { class: 'badge' }, t('dev.taken'))
          : h('button', { type: 'button', class: 'primary', 'aria-label': t('dev.pairOf', { name: d.name || id }),
                          onclick: async (ev) => {
                            ev.target.disabled = true;
                            try {
                              await post(EP.bind, { device: id, gateway: gw });
                              haptic('success');
                              toast(t('dev.paired', { name: d.name || id }));
                              await reloadMine();
                              loadNearby(out, gw, reloadMine, state, false);
                            } catch (e) {
                              ev.target.disabled = false;
                              haptic('error');
                              toast(errorText(e), 'error');
                            }
                          } }, t('dev.pair'))));
  })));
}

function showGym(box, mine, reload) {
  const cur = (mine || []).find((d) => d.session);
  if (cur) {
    mount(box,
      h('p', { id: 'gym-active' }, t('dev.gymOn', { name: cur.device })),
      cur.bound_ms ? h('p', { class: 'hint' }, t('dev.gymSince', { when: dateTime(cur.bound_ms) })) : null,
      h('button', { type: 'button', class: 'danger', id: 'gym-end', onclick: async () => {
        try { await del(EP.gym); haptic('success'); toast(t('dev.gymEnded')); reload(); } catch (e) { toast(errorText(e), 'error'); }
      } }, t('dev.gymEnd')));
    return;
  }
  gymStart(box, reload);
}

function gymStart(box, reload) {
  const input = h('input', { type: 'text', name: 'machine', autocapitalize: 'off', spellcheck: 'false' });
  const msg = h('p', { class: 'form-error', role: 'alert' });
  async function start(code) {
    msg.textContent = '';
    try {
      const r = await post(EP.gym, { qr: code });
      haptic('success');
      toast(t('dev.gymStarted', { name: r.device || code, min: Math.round((r.idle_timeout_s || 0) / 60) }));
      reload();
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
