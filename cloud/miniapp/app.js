// fitgate mini app: sign in with Telegram init data, then show the user's
// live heart rate (server-sent events) over the last minutes of history.
'use strict';

(function () {
  const WINDOW_MS = 10 * 60 * 1000; // sparkline span
  const $ = (id) => document.getElementById(id);
  const points = []; // [{t, hr}] oldest first
  let token = null;

  function setStatus(state, text) {
    const el = $('status');
    el.dataset.state = state;
    el.textContent = text;
  }

  function showError(text) {
    const el = $('error');
    el.textContent = text;
    el.hidden = false;
    setStatus('error', 'error');
  }

  // Launch parameters arrive in the URL hash (#tgWebAppData=...&tgWebAppVersion=...);
  // inside Telegram the SDK object carries the same string.
  function initData() {
    const tg = window.Telegram && window.Telegram.WebApp;
    if (tg && tg.initData) return tg.initData;
    const params = new URLSearchParams(location.hash.slice(1));
    return params.get('tgWebAppData');
  }

  function authHeaders() {
    return token ? { Authorization: 'Bearer ' + token } : {};
  }

  async function signIn() {
    const data = initData();
    if (data) {
      const res = await fetch('/api/v1/session', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ init_data: data }),
        credentials: 'same-origin',
      });
      // Init data is single use: drop it from the address bar so a reload
      // does not present it again (the session cookie carries on).
      history.replaceState(null, '', location.pathname + location.search);
      if (res.ok) {
        const body = await res.json();
        token = body.token;
        return body.user;
      }
      if (res.status !== 409) throw new Error(await errorText(res));
    }
    // No (or already used) init data: an existing session may still be valid.
    const me = await fetch('/api/v1/me', { credentials: 'same-origin' });
    if (me.ok) return me.json();
    throw new Error(data ? await errorText(me)
      : 'Open this page from the Telegram bot (or /dev/launch in dev mode).');
  }

  async function errorText(res) {
    try {
      const e = await res.json();
      return 'Sign-in failed: ' + (e.message || e.error);
    } catch (_) {
      return 'Sign-in failed (HTTP ' + res.status + ')';
    }
  }

  // History arrives oldest first and live events in order: the last reading
  // shown is the current one.
  function showReading(r) {
    const v = r.v || {};
    if (typeof v.hr === 'number') {
      points.push({ t: r.ts, hr: v.hr });
      $('hr').textContent = Math.round(v.hr);
    }
    if (Array.isArray(v.rr) && v.rr.length) {
      $('rr').textContent = v.rr.map((s) => Math.round(s * 1000)).join(' / ') + ' ms';
    }
    if (typeof v.contact === 'number') $('contact').textContent = v.contact ? 'yes' : 'no';
    if (typeof v.battery === 'number') $('battery').textContent = Math.round(v.battery) + ' %';
    if (r.dev) $('device').textContent = r.dev;
  }

  function draw() {
    const cv = $('spark');
    const ctx = cv.getContext('2d');
    const w = cv.width, h = cv.height;
    ctx.clearRect(0, 0, w, h);
    const now = Date.now();
    while (points.length && points[0].t < now - WINDOW_MS) points.shift();
    if (points.length < 2) return;
    let lo = Infinity, hi = -Infinity;
    for (const p of points) { lo = Math.min(lo, p.hr); hi = Math.max(hi, p.hr); }
    if (hi - lo < 10) { lo -= 5; hi += 5; }
    ctx.strokeStyle = getComputedStyle(document.documentElement)
      .getPropertyValue('--accent').trim() || '#e0245e';
    ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach((p, i) => {
      const x = w - ((now - p.t) / WINDOW_MS) * w;
      const y = h - 6 - ((p.hr - lo) / (hi - lo)) * (h - 12);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }

  async function loadHistory() {
    const since = Date.now() - WINDOW_MS;
    const res = await fetch('/api/v1/readings?limit=1000&since=' + since,
      { headers: authHeaders(), credentials: 'same-origin' });
    if (!res.ok) return;
    for (const r of await res.json()) showReading(r);
    draw();
  }

  // The live stream is server-sent events read with fetch(), not EventSource:
  // EventSource can only send cookies, and Telegram Web embeds the mini app in a
  // cross-site iframe where the SameSite=Strict session cookie is not sent. The
  // Bearer token works everywhere. Reconnects with a growing delay.
  function handleEvent(block) {
    let type = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) type = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (type !== 'reading' || data.length === 0) return;
    try {
      showReading(JSON.parse(data.join('\n')));
      draw();
    } catch (_) { /* ignore a malformed event */ }
  }

  async function connectLive(delay = 1000) {
    try {
      const res = await fetch('/api/v1/live', {
        headers: { ...authHeaders(), Accept: 'text/event-stream' },
        credentials: 'same-origin',
        cache: 'no-store',
      });
      if (!res.ok || !res.body) throw new Error('live stream: HTTP ' + res.status);
      setStatus('live', 'live');
      delay = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          handleEvent(buf.slice(0, end));
          buf = buf.slice(end + 2);
        }
      }
    } catch (_) { /* fall through to reconnect */ }
    setStatus('connecting', 'reconnecting…');
    setTimeout(() => connectLive(Math.min(delay * 2, 15000)), delay);
  }

  async function main() {
    const tg = window.Telegram && window.Telegram.WebApp;
    if (tg && tg.ready) tg.ready();
    setStatus('connecting', 'signing in…');
    let user;
    try {
      user = await signIn();
    } catch (e) {
      showError(e.message);
      return;
    }
    $('user').textContent = user.first_name + (user.username ? ' (@' + user.username + ')' : '');
    setStatus('connecting', 'connecting…');
    await loadHistory().catch(() => {});
    connectLive();
    setInterval(draw, 1000);
  }

  main();
})();
