// Strings: every language has every English key with the same {placeholders};
// Russian plurals pick one/few/many; formatting helpers.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import en from '../src/locales/en.js';
import ru from '../src/locales/ru.js';
import zh from '../src/locales/zh.js';

globalThis.document = { documentElement: {} };
globalThis.localStorage = { getItem: () => null, setItem() {} };
const { duration, setLang, t } = await import('../src/i18n.js');

const holes = (v) => JSON.stringify(v).match(/\{\w+\}/g)?.sort().join() ?? '';

for (const [name, dict] of Object.entries({ ru, zh })) {
  test(`${name} has every key with the same placeholders`, () => {
    for (const [k, v] of Object.entries(en)) {
      assert.ok(k in dict, `${name} lacks ${k}`);
      const a = typeof v === 'object' ? holes(v.other) : holes(v);
      const bv = dict[k];
      const b = typeof bv === 'object' ? holes(bv.other ?? Object.values(bv)[0]) : holes(bv);
      assert.equal(b, a, `${name}:${k} placeholders`);
    }
  });
}

test('Russian plurals', () => {
  setLang('ru');
  assert.equal(t('ach.days', { n: 1 }), '1 день');
  assert.equal(t('ach.days', { n: 3 }), '3 дня');
  assert.equal(t('ach.days', { n: 5 }), '5 дней');
  assert.equal(t('ach.days', { n: 21 }), '21 день');
  setLang('en');
  assert.equal(t('ach.days', { n: 1 }), '1 day');
  assert.equal(t('ach.days', { n: 2 }), '2 days');
});

test('placeholders, fallback to English, unknown keys, durations', () => {
  setLang('zh');
  assert.equal(t('live.zone', { n: 3 }), '区间 3');
  setLang('en');
  assert.equal(t('no.such.key'), 'no.such.key');
  assert.equal(duration(65), '1:05');
  assert.equal(duration(3725), '1:02:05');
  assert.equal(duration(-1), '–');
});
