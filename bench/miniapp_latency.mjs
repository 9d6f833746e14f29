// miniapp_latency.mjs <base-url> <seconds> - open the mini app (dev launch) in
// Debian's Chromium and, for every live reading of the device on screen, take
// (a) when the page's stream handed it over and (b) the next animation frame
// after the live screen updated the DOM (the frame that paints it), both
// minus reading.ts (the edge stamps ts when it takes the notification; same
// machine, same clock). Prints {samples: [[recv_ms, paint_ms], ...]}.
import { createRequire } from 'node:module';

// playwright-core is installed for the browser tests (tests/browser, pinned).
const require = createRequire(new URL('../tests/browser/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const [base, seconds] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/dev/launch`);
  await page.waitForFunction(() => /^\d+$/.test(document.querySelector('#hr')?.textContent ?? ''), null,
                             { timeout: 20000 });
  await page.evaluate(() => {
    window.__lat = [];
    // Subscribed after the live screen: by the time this runs, the screen has
    // already put the value into the DOM; the next frame paints it.
    window.fitgate.live.subscribe((r) => {
      if ((r.dev || '') !== window.fitgate.liveDevice) return;
      const recv = Date.now() - r.ts;
      requestAnimationFrame(() => window.__lat.push([recv, Date.now() - r.ts]));
    });
  });
  await page.waitForTimeout(Number(seconds) * 1000);
  const samples = await page.evaluate(() => window.__lat);
  console.log(JSON.stringify({ samples, errors }));
} finally {
  await browser.close();
}
