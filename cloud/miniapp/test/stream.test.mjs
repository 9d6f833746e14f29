// The live stream client (src/stream.js) against a scripted server: event
// parsing, Last-Event-ID on reconnect, the gap filled from /readings, nothing
// shown twice, and the back-off after a failed connect.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { openLive } from '../src/stream.js';

const enc = new TextEncoder();
const sse = (chunks) => new ReadableStream({
  start(c) { for (const x of chunks) c.enqueue(enc.encode(x)); c.close(); },
});
const reading = (id, ts, hr, dev = 'sim-1') => `id: ${id}\nevent: reading\ndata: ${JSON.stringify({ dev, ts, v: { hr } })}\n\n`;

function server(script) {
  const calls = [];
  globalThis.fetch = async (url, opts = {}) => {
    calls.push({ url: String(url), headers: opts.headers || {} });
    const next = script.shift();
    if (!next) return new Promise(() => {}); // hang: the test is over
    return next(String(url), opts);
  };
  return calls;
}
const ok = (body, type = 'text/event-stream') => new Response(body, { status: 200, headers: { 'Content-Type': type } });
const json = (obj) => ok(JSON.stringify(obj), 'application/json');

test('parses events, resumes with Last-Event-ID and fills the gap once', async () => {
  const calls = server([
    () => ok(sse(['retry: 10\n: connected\n\n', reading(1, 1000, 60), reading(2, 2000, 61).slice(0, 20), reading(2, 2000, 61).slice(20)])),
    () => json([{ dev: 'sim-1', ts: 1000, v: { hr: 60 } }]),                    // history: already shown below
    () => ok(sse([reading(3, 4000, 63)])),                                    // reconnect
    () => json([{ dev: 'sim-1', ts: 2000, v: { hr: 61 } }, { dev: 'sim-1', ts: 3000, v: { hr: 62 } }]),
  ]);
  const got = [];
  const states = [];
  const live = openLive({ onReading: (r) => got.push(r.ts), onState: (s) => states.push(s) });
  for (let i = 0; i < 100 && got.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
  live.close();
  assert.deepEqual(got, [1000, 2000, 3000, 4000]); // in order, the gap (3000) filled, nothing twice
  assert.equal(calls[0].url, '/api/v1/live');
  assert.equal(calls[0].headers['Last-Event-ID'], undefined);
  assert.match(calls[1].url, /^\/api\/v1\/readings\?limit=1000&since=\d+$/);
  assert.equal(calls[2].url, '/api/v1/live');
  assert.equal(calls[2].headers['Last-Event-ID'], '2');     // the last id seen
  assert.equal(calls[3].url, '/api/v1/readings?limit=1000&since=2001'); // after the newest shown
  assert.ok(states.indexOf('live', states.indexOf('reconnecting')) > 0, states.join()); // live again after the drop
  assert.equal(live.stats.connects, 2);
  assert.equal(live.stats.resumed, 1);
});

test('a failed connect backs off and says so; a malformed event is skipped', async () => {
  const calls = server([
    () => new Response('busy', { status: 503 }),
    () => ok(sse(['retry: 10\n\n', 'id: 9\nevent: reading\ndata: {not json\n\n', reading(10, 5000, 70)])),
    () => json([]),
  ]);
  const got = [];
  const states = [];
  const live = openLive({ onReading: (r) => got.push(r.v.hr), onState: (s) => states.push(s) });
  for (let i = 0; i < 300 && got.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
  live.close();
  assert.deepEqual(got, [70]);
  assert.deepEqual(states.slice(0, 3), ['connecting', 'reconnecting', 'connecting']);
  assert.equal(calls.filter((c) => c.url === '/api/v1/live').length, 2);
});
