// errors.js - any failure as a plain sentence with a next step; never a raw
// code. Known error codes get their own sentence; the rest go by status.
import { ApiError } from './api.js';
import { t } from './i18n.js';
import { notice } from './ui.js';

const BY_CODE = {
  offline: 'err.offline',
  second_factor_required: 'err.mfa',
  mfa_required: 'err.mfa',
  second_factor_setup_required: 'err.mfaSetup',
  invalid_code: 'err.code',
  code_invalid: 'err.code',
  code_expired: 'err.codeExpired',
  mfa_token_invalid: 'err.mfaExpired',
  too_many_attempts: 'err.tooMany',
  rate_limited: 'err.tooMany',
  locked: 'err.locked',
  method_not_enabled: 'err.methodOff',
  already_enabled: 'err.alreadyOn',
  delivery_failed: 'err.delivery',
  channel_unavailable: 'err.delivery',
  email_recovery_only: 'err.emailRecovery',
  recovery_email_unverified: 'err.recoveryEmail',
  recovery_cooldown: 'err.recoveryCooldown',
  two_factor_not_enabled: 'err.noTwoFactor',
  replay: 'err.initReplay',
  expired: 'err.initExpired',
  bad_signature: 'err.initInvalid',
  future: 'err.initInvalid',
  refresh_reused: 'err.signedOut',
  refresh_invalid: 'err.signedOut',
  bound_to_other: 'err.boundToOther',
  in_session: 'err.inSession',
  bad_qr: 'err.badQr',
  bad_gateway: 'err.badGateway',
  gateway_timeout: 'err.gatewayTimeout',
  no_snapshot: 'err.noSnapshot',
  not_a_member: 'err.notMember',
  not_an_owner: 'err.notOwner',
  last_owner: 'err.lastOwner',
  code_used: 'err.codeUsed',
  invalid_credentials: 'shop.badLogin',
  not_cancellable: 'err.notCancellable',
  read_only: 'shop.legacyRo',
  payment_declined: 'err.declined',
  payment_unavailable: 'err.payUnavailable',
  provider_unavailable: 'err.payUnavailable',
  out_of_stock: 'err.outOfStock',
  invalid_items: 'err.outOfStock',
  request_in_progress: 'err.inProgress',
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
