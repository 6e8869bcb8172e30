// The image and the container's root: each layer's pull and unpack progress
// and what it held, then the overlay built from them (lower layers, upper,
// work, merged).
import blessed from 'blessed';
import { bytes, count, fit, middle, shortDigest } from '../format.js';
import type { LayerRow } from '../model.js';
import type { Theme } from '../theme.js';
import { inner, paneBox, setLabel, type Pane, type PaneContext } from './pane.js';

/** "3 files, 5 dirs, 1 whiteout": what an unpack wrote, the counts that are not zero. */
export function unpackSummary(l: LayerRow): string {
  const s = l.unpacked?.stats;
  if (!s) return '';
  const parts: [number, string][] = [
    [s.files, 'files'],
    [s.dirs, 'dirs'],
    [s.symlinks, 'symlinks'],
    [s.hardlinks, 'hardlinks'],
    [s.whiteouts, 'whiteouts'],
    [s.opaques, 'opaque dirs'],
    [s.devices, 'devices'],
  ];
  return parts
    .filter(([n]) => n > 0)
    .map(([n, w]) => `${count(n)} ${n === 1 ? w.replace(/s$/, '') : w}`)
    .join(', ');
}

export function layerLine(l: LayerRow, width: number, theme: Theme): string {
  const state = l.unpacked && l.state === 'done' ? 'unpacked' : l.state;
  const size = `${bytes(l.bytes)}/${bytes(l.size)}`;
  const head = `${shortDigest(l.digest)} ${state.padEnd(11)}`;
  const barW = Math.max(0, Math.min(20, width - head.length - size.length - 3));
  const frac = l.size ? Math.min(1, l.bytes / l.size) : l.state === 'done' || l.state === 'exists' ? 1 : 0;
  const full = Math.round(frac * barW);
  const paint = l.state === 'failed' ? theme.err : l.state === 'done' || l.state === 'exists' ? theme.ok : theme.warn;
  const bar = barW >= 4 ? `${paint('█'.repeat(full))}${theme.dim('░'.repeat(barW - full))} ` : '';
  return `${head}${bar}${size}`;
}

export class FilesystemPane implements Pane {
  readonly id = 'filesystem' as const;
  readonly box;
  constructor() {
    this.box = paneBox(blessed, 'Filesystem', { scrollable: true, alwaysScroll: true });
  }

  update({ model, ui, theme }: PaneContext): void {
    const { width } = inner(this.box);
    setLabel(this.box, 'Image & filesystem', ui.focus === 'filesystem', theme);
    const lines: string[] = [];
    const img = model.image;
    if (img) lines.push(fit(`image ${img.name}`, width), theme.dim(fit(`      ${shortDigest(img.digest, 19)}, ${img.layers} layer${img.layers === 1 ? '' : 's'}, ${bytes(img.size)}`, width)));
    else if (model.header?.image) lines.push(fit(`image ${model.header.image}`, width));
    if (model.resolved) lines.push(theme.dim(fit(`from  ${model.resolved.registry}/${model.resolved.repository}${model.resolved.tag ? `:${model.resolved.tag}` : ''}`, width)));
    const layers = model.layerRows();
    lines.push('', theme.bold(`layers (${layers.length})`));
    if (!layers.length) lines.push(theme.dim('  none pulled in this run (already in the store, or not pulled yet)'));
    for (const l of layers) {
      lines.push(layerLine(l, width, theme));
      const sum = unpackSummary(l);
      if (sum) lines.push(theme.dim(fit(`  ${sum}`, width)));
    }
    const o = model.overlay;
    lines.push('');
    if (!o) {
      lines.push(theme.bold('overlay'), theme.dim('  not mounted yet: the rootfs stage mounts it'));
      const v = model.placeholders();
      if (v.merged) lines.push(fit(`  merged ${middle(v.merged, width - 9)}`, width));
    } else {
      lines.push(theme.bold(fit(`overlay (${o.lower.length} lower layer${o.lower.length === 1 ? '' : 's'}, top first) on ${middle(o.mountpoint ?? '?', Math.max(8, width - 40))}`, width)));
      const w = width - 9;
      o.lower.forEach((d, i) => lines.push(fit(`  lower${i === 0 ? ' ' : String(i)} ${middle(d, w)}`, width)));
      if (o.upper) lines.push(fit(`  upper  ${middle(o.upper, w)}`, width));
      if (o.work) lines.push(fit(`  work   ${middle(o.work, w)}`, width));
      const merged = model.placeholders().merged;
      if (merged) lines.push(fit(`  merged ${middle(merged, w)}`, width));
    }
    this.box.setContent(lines.join('\n'));
  }

  scroll(by: number | 'top' | 'bottom'): void {
    if (by === 'top') this.box.scrollTo(0);
    else if (by === 'bottom') this.box.setScrollPerc(100);
    else this.box.scroll(by);
  }
}
