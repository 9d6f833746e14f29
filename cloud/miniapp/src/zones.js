// zones.js - heart-rate zones as a share of the user's maximum heart rate
// (the five-zone model most watches use). Colours are paired with the zone's
// number and name on screen, so colour is never the only cue. The colours
// carry white text at 4.5:1 or better (style.css repeats them per data-zone).
export const ZONES = [
  { n: 1, lo: 0.5, key: 'zone.1', color: '#5f6b7a' },
  { n: 2, lo: 0.6, key: 'zone.2', color: '#1f6fd1' },
  { n: 3, lo: 0.7, key: 'zone.3', color: '#1e7e45' },
  { n: 4, lo: 0.8, key: 'zone.4', color: '#b35900' },
  { n: 5, lo: 0.9, key: 'zone.5', color: '#c62828' },
];

export function maxHr(user) {
  if (user?.max_hr > 100) return user.max_hr;
  if (user?.birth_year > 1900) return Math.round(208 - 0.7 * (new Date().getFullYear() - user.birth_year));
  return 190;
}

// 0 below zone 1 (resting), else 1..5.
export function zoneOf(hr, max) {
  const f = hr / max;
  let z = 0;
  for (const zone of ZONES) if (f >= zone.lo) z = zone.n;
  return z;
}
