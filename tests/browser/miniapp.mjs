// miniapp.mjs <part> <base-url> <shots-dir> [launch-url]
// Drives the mini app in Debian's Chromium (playwright-core, no browser
// download) and prints one JSON line with what it saw; exit 1 on a failure
// of the script itself (assertions are the caller's, in test_miniapp.py).
//   telegram   launched as Telegram would (a TelegramWebviewProxy bridge that
//              records the app's events), theme colours, BackButton, MainButton
//   lang       launched with language_code=ru, then switched to English
//   layout     every screen at 360 px: horizontal overflow, unlabelled
//              controls, a screenshot each
//   reconnect  the live stream dropped while offline comes back and fills the gap
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [part, base, shots, launch] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// Console errors other than failed resource loads (a 404 of an API that is
// not built yet is shown to the user as "not available yet", by design).
async function openPage(opts = {}) {
  const context = await browser.newContext({ viewport: { width: opts.width || 360, height: 740 },
                                             deviceScaleFactor: 1, locale: opts.locale || 'en-US' });
  const page = await context.newPage();
  const errors = [];
  const http = [];
  page.on('pageerror', (e) => errors.push('pageerror: ' + String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push('console: ' + m.text());
  });
  page.on('response', (r) => { if (r.status() >= 400) http.push(`${r.status()} ${new URL(r.url()).pathname}`); });
  return { context, page, errors, http };
}

const signedIn = (page) => page.waitForSelector('#tabs:not([hidden])', { timeout: 15000 });
const liveNumber = (page) => page.waitForFunction(() => /^\d+$/.test(document.querySelector('#hr')?.textContent ?? ''),
                                                  null, { timeout: 20000 });
const go = async (page, route) => {
  await page.evaluate((r) => { location.hash = '#/' + r; }, route);
  await page.waitForFunction((r) => document.querySelector('#view')?.dataset.screen === r.split('/')[0], route);
  // Loaded: no spinner left (or give up after 5 s and report what is there).
  await page.waitForFunction(() => !document.querySelector('#view .loading'), null, { timeout: 5000 }).catch(() => {});
};

async function telegram() {
  const { page, errors } = await openPage();
  await page.addInitScript(() => {
    window.__tg = [];
    window.TelegramWebviewProxy = { postEvent: (name, data) => window.__tg.push([name, data ? JSON.parse(data) : null]) };
  });
  await page.goto(launch);
  await signedIn(page);
  const root = await page.evaluate(() => {
    const cs = getComputedStyle(document.documentElement);
    return { bgVar: cs.getPropertyValue('--tg-theme-bg-color').trim(), bodyBg: getComputedStyle(document.querySelector('header')).backgroundColor,
             tgAttr: document.documentElement.dataset.tg || '', htmlBack: !document.querySelector('#back').hidden };
  });
  await go(page, 'workouts');
  await go(page, 'workouts/1');
  const backShown = await page.evaluate(() => window.__tg.filter(([n]) => n === 'web_app_setup_back_button').map(([, d]) => d.is_visible));
  await page.evaluate(() => window.Telegram.WebView.receiveEvent('back_button_pressed'));
  await page.waitForFunction(() => document.querySelector('#view').dataset.screen === 'workouts', null, { timeout: 5000 });
  const afterBack = await page.evaluate(() => location.hash);
  // The main button: the sign-out path is on the security screen; the cart
  // uses it for "Pay"; here: whatever the app sent so far.
  const events = await page.evaluate(() => window.__tg.map(([n]) => n));
  await page.screenshot({ path: join(shots, 'telegram-workouts.png') });
  return { ...root, backShown, afterBack, events: [...new Set(events)], errors };
}

async function lang() {
  const { page, errors } = await openPage({ locale: 'en-US' });
  await page.goto(launch);
  await signedIn(page);
  const ru = await page.evaluate(() => ({ lang: document.documentElement.lang,
    tabs: [...document.querySelectorAll('#tabs a')].map((a) => a.textContent.trim()),
    status: document.querySelector('#status').textContent.trim() }));
  await page.screenshot({ path: join(shots, 'live-ru.png') });
  await go(page, 'more');
  await page.selectOption('#lang', 'en');
  await page.waitForFunction(() => document.documentElement.lang === 'en');
  const en = await page.evaluate(() => ({ lang: document.documentElement.lang,
    tabs: [...document.querySelectorAll('#tabs a')].map((a) => a.textContent.trim()),
    heading: document.querySelector('#view h1')?.textContent.trim() }));
  // The choice sticks across a reload (no init data then: the tab's session).
  await page.reload();
  await signedIn(page).catch(() => {});
  const kept = await page.evaluate(() => document.documentElement.lang);
  return { ru, en, kept, errors };
}

const SCREENS = ['live', 'workouts', 'progress', 'achievements', 'devices', 'more', 'security', 'shop', 'shop/cart', 'shop/orders'];

async function layout() {
  const { page, errors, http } = await openPage({ width: 360 });
  await page.goto(`${base}/dev/launch`);
  await signedIn(page);
  await liveNumber(page);
  const screens = {};
  for (const s of SCREENS) {
    await go(page, s);
    await page.waitForTimeout(300);
    screens[s] = await page.evaluate(() => {
      const de = document.documentElement;
      const visible = (el) => el.offsetParent !== null || el.getClientRects().length > 0;
      const name = (el) => (el.getAttribute('aria-label') || (el.id && document.querySelector(`label[for="${el.id}"]`)?.textContent)
        || el.closest('label')?.textContent || el.textContent || '').trim();
      const unlabelled = [...document.querySelectorAll('input, select, textarea, button, a[href]')]
        .filter((el) => visible(el) && el.type !== 'hidden' && !name(el)).map((el) => el.outerHTML.slice(0, 80));
      const wide = [...document.querySelectorAll('#view *')].filter((el) => el.getBoundingClientRect().right > de.clientWidth + 1)
        .map((el) => el.tagName + '.' + el.className).slice(0, 5);
      return { overflow: de.scrollWidth - de.clientWidth, unlabelled, wide,
               text: document.querySelector('#view').textContent.slice(0, 120) };
    });
    await page.screenshot({ path: join(shots, `screen-${s.replace('/', '-')}.png`), fullPage: true });
  }
  return { screens, errors, http };
}

async function reconnect() {
  const { context, page, errors } = await openPage();
  await page.goto(`${base}/dev/launch`);
  await signedIn(page);
  await liveNumber(page);
  await page.waitForFunction(() => window.fitgate.live.stats.connects >= 1);
  const dev = await page.evaluate(() => window.fitgate.liveDevice);
  // Drop the stream and stay offline long enough to miss several readings.
  await context.setOffline(true);
  const offAt = Date.now();
  await page.evaluate(() => window.fitgate.live.drop());
  await page.waitForFunction(() => document.querySelector('#status').dataset.state === 'reconnecting', null, { timeout: 5000 });
  const statusOffline = await page.evaluate(() => document.querySelector('#status').dataset.state);
  await page.waitForTimeout(4000);
  await context.setOffline(false);
  const onAt = Date.now();
  await page.waitForFunction(() => window.fitgate.live.stats.connects >= 2 &&
    document.querySelector('#status').dataset.state === 'live', null, { timeout: 20000 });
  const back = Date.now() - onAt;
  // New readings arrive again after the reconnect.
  await page.waitForFunction((t) => window.fitgate.live.recent.some((r) => r.ts > t), onAt + 500, { timeout: 15000 });
  const got = await page.evaluate(([d, a, b]) => window.fitgate.live.recent
    .filter((r) => r.dev === d && r.ts >= a - 1500 && r.ts <= b + 1500).map((r) => r.ts).sort((x, y) => x - y), [dev, offAt, onAt]);
  let maxGap = 0;
  for (let i = 1; i < got.length; i++) maxGap = Math.max(maxGap, got[i] - got[i - 1]);
  const dupes = await page.evaluate((d) => {
    const ts = window.fitgate.live.recent.filter((r) => r.dev === d).map((r) => r.ts);
    return ts.length - new Set(ts).size;
  }, dev);
  const stats = await page.evaluate(() => ({ ...window.fitgate.live.stats }));
  return { statusOffline, reconnectMs: back, offlineMs: onAt - offAt, windowReadings: got.length, maxGapMs: maxGap, dupes, stats, errors };
}

const parts = { telegram, lang, layout, reconnect };
try {
  if (!parts[part]) throw new Error('unknown part ' + part);
  console.log(JSON.stringify(await parts[part]()));
} finally {
  await browser.close();
}
