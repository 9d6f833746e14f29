// errors.js - any failure as a plain sentence with a next step; never a raw
// code. Known error codes get their own sentence; the rest go by status.
import { ApiError } from './api.js';
import { t } from './i18n.js';
import { notice } from './ui.js';

const BY_CODE = {
  offline: 'err.offline',
  second_factor_required: 'err.mfa',
  mfa_required: 'err.mfa',
  invalid_code: 'err.code',
  code_invalid: 'err.code',
  code_expired: 'err.codeExpired',
  rate_limited: 'err.tooMany',
  initdata_expired: 'err.initExpired',
  initdata_invalid: 'err.initInvalid',
  out_of_stock: 'err.outOfStock',
};

export function errorText(e) {
  if (!(e instanceof ApiError)) return t('err.app');
  if (BY_CODE[e.code]) return t(BY_CODE[e.code]);
  if (e.status === 0) return t('err.offline');
  if (e.status === 401) return t('err.signedOut');
  if (e.status === 403) return t('err.forbidden');
  if (e.missing) return t('err.notAvailable');
  if (e.status === 409) return t('err.conflict');
  if (e.status === 429) return t('err.tooMany');
  if (e.status >= 500) return t('err.server');
  return t('err.invalid');
}

// The notice for a failed load: "not available yet" on a missing endpoint
// (a feature still being built), else the sentence + a retry button.
export function errorNotice(e, retry) {
  if (e instanceof ApiError && e.missing && !BY_CODE[e.code]) {
    return notice('info', t('err.notAvailable'));
  }
  if (e instanceof ApiError && e.status === 401) {
    return notice('error', t('err.signedOut'), { label: t('signin.again'), run: () => location.reload() });
  }
  return notice('error', errorText(e), retry ? { label: t('common.retry'), run: retry } : null);
}
