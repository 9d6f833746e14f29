// live_hr.mjs <base-url> <screenshot.png>
// Opens the mini app the way Telegram would (dev launch signs init data), waits
// until the live heart rate shows a number that then changes, and prints what
// the page shows as one JSON line. Exit 1 on any failure.
import { chromium } from 'playwright-core';

const [base, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/dev/launch`);
  await page.waitForFunction(() => /^\d+$/.test(document.querySelector('#hr')?.textContent ?? ''),
                             null, { timeout: 15000 });
  const first = await page.textContent('#hr');
  const t0 = Date.now();
  // Live: the value (or the device) must update again from the stream.
  await page.waitForFunction((v) => document.querySelector('#hr').textContent !== v, first,
                             { timeout: 15000 }).catch(() => {});
  const out = {
    first_hr: Number(first),
    hr: Number(await page.textContent('#hr')),
    changed_after_ms: Date.now() - t0,
    user: (await page.textContent('#user')).trim(),
    status: (await page.textContent('#status')).trim(),
    device: (await page.textContent('#device')).trim(),
    errors,
  };
  if (shot) await page.screenshot({ path: shot });
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
