// cgroup: memory, CPU and pids against the limits glassbox wrote, as bars
// and a line chart over time, and the files it wrote with their values.
// The bars are text (block characters), so they show without colour too;
// the chart is blessed-contrib's braille line, drawn only when there is room.
import blessed from 'blessed';
import contrib from 'blessed-contrib';
import { bytes, fit, middle } from '../format.js';
import type { CgroupState } from '../model.js';
import type { Theme } from '../theme.js';
import { inner, paneBox, setLabel, type Pane, type PaneContext } from './pane.js';

export interface Meter {
  name: string;
  used?: number;
  limit?: number;
  show(n: number): string;
}

export function meters(cg: CgroupState): Meter[] {
  const last = cg.series[cg.series.length - 1];
  const lastCpu = [...cg.series].reverse().find((p) => p.cpu !== undefined)?.cpu;
  return [
    { name: 'memory', used: last?.memory, limit: cg.limits.memory, show: bytes },
    { name: 'cpu', used: lastCpu, limit: cg.limits.cpu, show: (n) => `${n.toFixed(2)} CPU` },
    { name: 'pids', used: last?.pids, limit: cg.limits.pids, show: (n) => String(n) },
  ];
}

/** "memory ████░░░░ 12MB / 64MB": a bar `width` wide. */
export function meterLine(m: Meter, width: number, theme: Theme): string {
  const value = `${m.used === undefined ? '-' : m.show(m.used)} / ${m.limit === undefined ? 'no limit' : m.show(m.limit)}`;
  const barW = Math.max(0, width - 8 - value.length - 2);
  const frac = m.used !== undefined && m.limit ? Math.min(1, m.used / m.limit) : 0;
  const full = Math.round(frac * barW);
  const bar = barW >= 4 ? ' ' + (frac > 0.9 ? theme.err : theme.ok)('█'.repeat(full)) + theme.dim('░'.repeat(barW - full)) + ' ' : ' ';
  return `${m.name.padEnd(7)}${bar}${value}`;
}

export class CgroupPane implements Pane {
  readonly id = 'cgroup' as const;
  readonly box;
  private readonly text;
  private readonly chart: contrib.LineElement;
  private chartRows = 0;
  private chartWidth = 0;
  private drawn = '';

  constructor(private readonly theme: Theme) {
    this.box = paneBox(blessed, 'cgroup');
    this.text = blessed.box({ top: 0, left: 0, width: '100%-2', tags: false, wrap: false });
    this.chart = contrib.line({
      top: 0,
      left: 0,
      width: '100%-2',
      height: 8,
      maxY: 100,
      minY: 0,
      showLegend: false,
      wholeNumbersOnly: true,
      numYLabels: 2,
      style: { line: theme.color ? 'yellow' : 'normal', text: theme.color ? 'green' : 'normal', baseline: theme.color ? 'white' : 'normal' },
    });
    this.box.append(this.text);
  }

  resized(): void {
    this.chartRows = -1;
  }

  /** Bars and files first; the chart takes what is left, if that is enough to read. */
  private arrange(textRows: number): void {
    const { width, height } = inner(this.box);
    const free = height - textRows;
    const rows = width >= 30 && free >= 6 ? Math.min(14, free) : 0;
    if (rows !== this.chartRows || width !== this.chartWidth) {
      this.chartRows = rows;
      this.chartWidth = width;
      if (rows) {
        if (!this.chart.parent) this.box.append(this.chart);
        this.chart.top = height - rows;
        this.chart.height = rows;
        this.chart.width = width;
        // The canvas is made at 'attach' for the size then.
        this.chart.emit('attach');
      } else if (this.chart.parent) this.box.remove(this.chart);
      this.drawn = '';
    }
    this.text.height = Math.max(1, height - rows);
  }

  update({ model, ui, theme }: PaneContext): void {
    const { width } = inner(this.box);
    const cg = model.cgroup;
    setLabel(this.box, cg.dir ? `cgroup ${middle(cg.dir, Math.max(10, width - 10))}` : 'cgroup', ui.focus === 'cgroup', theme);
    const lines = meters(cg).map((m) => meterLine(m, width, theme));
    lines.push('');
    if (!cg.files.length) lines.push(theme.dim(model.snapshot ? 'no cgroup file written yet' : 'files written appear at the pauses after the cgroup stage'));
    for (const f of cg.files) {
      const name = f.path.slice(f.path.lastIndexOf('/') + 1);
      const now = f.now !== undefined && f.now.trim() !== f.written ? theme.warn(` (now ${f.now.trim().split('\n')[0]})`) : '';
      lines.push(fit(`${name} = ${f.written}`, width) + now);
      if (width >= 60 && inner(this.box).height >= 30) lines.push(theme.dim(fit(`  ${f.why}`, width)));
    }
    this.text.setContent(lines.join('\n'));
    this.arrange(lines.length);
    if (this.chartRows > 0 && this.chart.ctx) {
      const key = `${model.version}`;
      if (key !== this.drawn) {
        this.drawn = key;
        this.chart.setData(this.series(cg));
      }
    }
  }

  /** Percent of each limit over time; no limit, no line. */
  private series(cg: CgroupState): contrib.LineSeries[] {
    const pts = cg.series.slice(-60);
    const t0 = pts[0]?.t ?? 0;
    const x = pts.map((p) => `${Math.round((p.t - t0) / 1000)}s`);
    const pct = (v: number | undefined, lim: number | undefined) => (v !== undefined && lim ? Math.min(100, (100 * v) / lim) : 0);
    const colour = (c: string) => (this.theme.color ? c : 'normal');
    const out: contrib.LineSeries[] = [
      { title: 'memory', x, y: pts.map((p) => pct(p.memory, cg.limits.memory)), style: { line: colour('yellow') } },
      { title: 'cpu', x, y: pts.map((p) => pct(p.cpu, cg.limits.cpu)), style: { line: colour('cyan') } },
      { title: 'pids', x, y: pts.map((p) => pct(p.pids, cg.limits.pids)), style: { line: colour('magenta') } },
    ];
    // blessed-contrib divides by the number of points: give it one at least.
    if (!x.length) for (const s of out) (s.x.push('0s'), s.y.push(0));
    return out;
  }
}
