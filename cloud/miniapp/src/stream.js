// stream.js - the live readings stream (server-sent events over fetch).
//
// fetch, not EventSource: EventSource can only send cookies, and Telegram Web
// embeds the mini app in a cross-site iframe where the SameSite=Strict session
// cookie is not sent; the Bearer token works everywhere.
//
// Resuming: every event's `id:` is kept and sent back as Last-Event-ID on the
// next connection (the server replays what it still holds). Whatever the
// server cannot replay is filled from GET /api/v1/readings?since=<last ts>,
// and readings already shown (same device, not newer) are dropped, so a
// dropped connection loses nothing and shows nothing twice.
import { authHeaders, get, items, refresh } from './api.js';

export function openLive({ onReading, onState, historyMs = 10 * 60 * 1000 }) {
  let lastId = null;
  let lastTs = 0; // newest reading shown (any device)
  const seen = new Map(); // device -> newest ts shown
  let stopped = false;
  let ctrl = null;
  let delay = 1000;
  let timer = null;
  const stats = { connects: 0, resumed: 0, filled: 0 };

  function deliver(r) {
    if (!r || typeof r.ts !== 'number') return;
    const dev = r.dev || '';
    if ((seen.get(dev) ?? -Infinity) >= r.ts) return; // already shown
    seen.set(dev, r.ts);
    if (r.ts > lastTs) lastTs = r.ts;
    onReading(r);
  }

  async function backfill() {
    const since = lastTs ? lastTs + 1 : Date.now() - historyMs;
    try {
      const list = items(await get(`/api/v1/readings?limit=1000&since=${since}`), 'readings');
      list.sort((a, b) => a.ts - b.ts);
      for (const r of list) deliver(r);
      stats.filled += list.length;
    } catch (_) { /* the stream still works; history is a bonus */ }
  }

  function handleBlock(block) {
    let type = 'message', id = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) type = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      else if (line.startsWith('id:')) id = line.slice(3).trim();
      else if (line.startsWith('retry:')) {
        const ms = parseInt(line.slice(6), 10);
        if (ms > 0 && ms < 60000) delay = ms;
      }
    }
    if (id !== null) lastId = id;
    if (type !== 'reading' || data.length === 0) return;
    try { deliver(JSON.parse(data.join('\n'))); } catch (_) { /* a malformed event */ }
  }

  async function connect() {
    if (stopped) return;
    ctrl = new AbortController();
    onState('connecting');
    let authFailed = false;
    try {
      const res = await fetch('/api/v1/live', {
        headers: { ...authHeaders(), Accept: 'text/event-stream',
                   ...(lastId ? { 'Last-Event-ID': lastId } : {}) },
        credentials: 'same-origin',
        cache: 'no-store',
        signal: ctrl.signal,
      });
      if (res.status === 401) authFailed = true;
      if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
      stats.connects++;
      if (lastId) stats.resumed++;
      // Subscribed: fill the gap (or load the history on the first connect).
      await backfill();
      onState('live');
      delay = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          handleBlock(buf.slice(0, end));
          buf = buf.slice(end + 2);
        }
      }
    } catch (_) { /* reconnect below */ }
    if (stopped) return;
    if (authFailed && !(await refresh())) { onState('signed-out'); return; }
    onState('reconnecting');
    timer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, 15000);
  }

  connect();
  return {
    stats,
    // Drop the connection now (tests, and the "reconnect" button); it comes back by itself.
    drop() { if (ctrl) ctrl.abort(); },
    close() {
      stopped = true;
      clearTimeout(timer);
      if (ctrl) ctrl.abort();
    },
  };
}
