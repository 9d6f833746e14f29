// build.mjs - bundle src/ into dist/ with esbuild (no network, no dev server).
//   node build.mjs            minified production bundle
//   node build.mjs --dev      readable bundle with inline source maps
//   node build.mjs --meta F   also write esbuild's metafile to F (what each input adds)
// dist/ holds exactly: index.html, app.js, app.css (+ the icon). The core
// serves it as static files under a strict CSP (default-src 'self'): no inline
// scripts or styles, no outside hosts.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');
const dev = process.argv.includes('--dev');
const metaAt = process.argv.indexOf('--meta'); // --meta FILE: esbuild's metafile (bench/miniapp_size.sh)
const metaFile = metaAt > 0 ? process.argv[metaAt + 1] : null;

// Every string the code asks for must exist in English and Russian; Chinese
// may lag (it falls back to English) but the build lists what is missing.
async function checkStrings() {
  const src = join(here, 'src');
  const used = new Set();
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.js') && f !== 'i18n.js') {
        for (const m of readFileSync(p, 'utf8').matchAll(/\bt\(\s*'([\w.-]*\w)'(?!\s*\+)/g)) used.add(m[1]);
      }
    }
  };
  walk(src);
  const load = async (l) => (await import(join(src, 'locales', l + '.js'))).default;
  const [en, ru, zh] = [await load('en'), await load('ru'), await load('zh')];
  const missing = (d) => [...new Set([...used, ...Object.keys(en)])].filter((k) => !(k in d));
  const bad = [...missing(en).map((k) => 'en:' + k), ...missing(ru).map((k) => 'ru:' + k)];
  if (bad.length) {
    console.error('miniapp: strings missing: ' + bad.join(' '));
    process.exit(1);
  }
  const z = missing(zh);
  if (z.length) console.warn(`miniapp: ${z.length} Chinese strings fall back to English: ${z.join(' ')}`);
}
await checkStrings();

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  metafile: !!metaFile,
  entryPoints: { app: join(here, 'src/main.js'), 'app-css': join(here, 'src/style.css') },
  outdir: out,
  bundle: true,
  format: 'iife',
  target: ['es2020', 'chrome91', 'safari15', 'firefox90'],
  minify: !dev,
  sourcemap: dev ? 'inline' : false,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' },
});
if (metaFile) writeFileSync(metaFile, JSON.stringify(result.metafile));
// esbuild names the CSS entry app-css.css: give it a plain name.
copyFileSync(join(out, 'app-css.css'), join(out, 'app.css'));
rmSync(join(out, 'app-css.css'));
for (const f of readdirSync(join(here, 'public'))) copyFileSync(join(here, 'public', f), join(out, f));
const size = readdirSync(out).reduce((n, f) => n + statSync(join(out, f)).size, 0);
console.log(`miniapp: dist/ ${readdirSync(out).join(' ')} (${(size / 1024).toFixed(1)} KiB raw)`);
