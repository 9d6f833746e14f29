// chart.js - uPlot charts sized to their container, coloured from the theme.
import uPlot from 'uplot';
import { getLang } from './i18n.js';

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

const timeLabel = (s, step) => new Date(s * 1000).toLocaleTimeString(getLang(),
  step < 60 ? { minute: '2-digit', second: '2-digit' } : { hour: '2-digit', minute: '2-digit' });

// lineChart(container, {series: [{label, color, unit}], height, xTime}) ->
// {setData([xs, ys1, ys2...]), destroy()}. xs are seconds (uPlot's time unit).
export function lineChart(container, { series, height = 160, xTime = true, yRange, ariaLabel }) {
  const text = cssVar('--hint', '#707079');
  const grid = cssVar('--grid', 'rgba(128,128,128,0.2)');
  const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
                 font: '11px system-ui, sans-serif' };
  const opts = {
    width: Math.max(200, container.clientWidth || 320),
    height,
    legend: { show: series.length > 1 },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: xTime }, y: yRange ? { range: yRange } : {} },
    axes: [{ ...axis, ...(xTime ? { values: (u, splits) => splits.map((x) => timeLabel(x, splits.length > 1 ? splits[1] - splits[0] : 60)) } : {}) },
      { ...axis, size: 48 }],
    series: [{}, ...series.map((s) => ({
      label: s.label,
      stroke: s.color || cssVar('--accent', '#e0245e'),
      width: 2,
      spanGaps: false,
      points: { show: false },
      value: (u, v) => (v === null || v === undefined ? '–' : `${Math.round(v * 10) / 10}${s.unit ? ' ' + s.unit : ''}`),
    }))],
  };
  const empty = [[], ...series.map(() => [])];
  const plot = new uPlot(opts, empty, container);
  container.setAttribute('role', 'img');
  if (ariaLabel) container.setAttribute('aria-label', ariaLabel);
  const ro = new ResizeObserver(() => {
    const w = container.clientWidth;
    if (w > 0 && Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height });
  });
  ro.observe(container);
  return {
    plot,
    setData(data) { plot.setData(data); },
    destroy() { ro.disconnect(); plot.destroy(); },
  };
}
