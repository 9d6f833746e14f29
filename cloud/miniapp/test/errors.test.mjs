// Every failure becomes a sentence with a next step, never a raw code.
import assert from 'node:assert/strict';
import { test } from 'node:test';

globalThis.document = { documentElement: {} };
globalThis.localStorage = { getItem: () => null, setItem() {} };
const { ApiError } = await import('../src/api.js');
const { errorText } = await import('../src/errors.js');
const { setLang } = await import('../src/i18n.js');

test('known codes and statuses map to sentences', () => {
  setLang('en');
  assert.match(errorText(new ApiError(409, 'bound_to_other', 'x')), /^Someone else has paired/);
  assert.match(errorText(new ApiError(0, 'offline')), /Check your internet connection/);
  assert.match(errorText(new ApiError(404, 'not_found')), /not available yet/);
  assert.match(errorText(new ApiError(502, 'weird_new_code')), /Try again in a minute/);
  assert.match(errorText(new ApiError(429, '')), /Wait a minute/);
  assert.match(errorText(new Error('boom')), /Reload the page/);
  setLang('ru');
  assert.match(errorText(new ApiError(401, 'code_invalid')), /Код неверный/);
  for (const e of [new ApiError(400, 'malformed', 'expected {"init_data"}'), new ApiError(500, 'internal')]) {
    const s = errorText(e);
    assert.ok(!/[a-z]+_[a-z]+|\{|HTTP/.test(s), s);  // no codes, no JSON, no protocol words
  }
});
