// The syscall stream: `name(args) = ret` with pid and stage, errors red,
// the program's output between them. Only the lines in view are drawn, so
// a redraw costs the same with five lines or five thousand.
import blessed from 'blessed';
import { count, fit, pad } from '../format.js';
import { filterIsEmpty, LINE_ERR, LINE_NORET, LINE_STDERR, LINE_STDOUT, StreamView, type Model, type StreamFilter } from '../model.js';
import type { UiState } from '../state.js';
import type { Theme } from '../theme.js';
import { inner, paneBox, setLabel, type Pane, type PaneContext } from './pane.js';

export const STREAM_LIMIT = 5000;

/** The painted line for log index i, cut to width. */
export function streamLine(model: Model, i: number, width: number, filter: StreamFilter, theme: Theme): string {
  const log = model.log;
  const kind = log.kind(i);
  const stage = pad(log.stageIds[log.stage(i)] ?? '', 10);
  const out = kind === LINE_STDOUT || kind === LINE_STDERR;
  const head = `${(out ? (kind === LINE_STDOUT ? 'out' : 'err') : String(log.pid(i))).padStart(7)} ${stage} `;
  const body = out ? `│ ${log.text(i)}` : callFit(log.text(i), width - head.length);
  const plain = fit(head + body, width);
  const base = kind === LINE_ERR ? theme.err : kind === LINE_NORET ? theme.dim : kind === LINE_STDOUT ? theme.accent : kind === LINE_STDERR ? theme.warn : (s: string) => s;
  const h = plain.slice(0, head.length);
  let b = plain.slice(head.length);
  const search = filter.text?.toLowerCase();
  const at = search ? b.toLowerCase().indexOf(search) : -1;
  if (at >= 0 && search) b = base(b.slice(0, at)) + theme.inverse(b.slice(at, at + search.length)) + base(b.slice(at + search.length));
  else if (kind === 0) {
    const paren = b.indexOf('(');
    b = paren > 0 ? theme.accent(b.slice(0, paren)) + b.slice(paren) : b;
  } else b = base(b);
  return theme.dim(h) + b;
}

/**
 * A call cut to width keeps its end: `execve("/usr/lib/gla…) = 0`. The
 * duration goes first, then the middle of the arguments.
 */
export function callFit(text: string, width: number): string {
  if (text.length <= width) return text;
  const eq = text.lastIndexOf(') = ');
  if (eq < 0) return fit(text, width);
  const call = text.slice(0, eq + 1);
  let tail = text.slice(eq + 1);
  const dur = tail.lastIndexOf(' <');
  if (dur > 0 && call.length + tail.length > width) tail = tail.slice(0, dur);
  if (call.length + tail.length <= width) return call + tail;
  const room = width - tail.length - 2;
  const paren = call.indexOf('(');
  if (room <= paren + 1) return fit(call + tail, width);
  return call.slice(0, room) + '…)' + tail;
}

export class SyscallsPane implements Pane {
  readonly id = 'syscalls' as const;
  readonly box;
  private readonly view = new StreamView(STREAM_LIMIT);
  private idx: number[] = [];
  private bottom = -1;

  constructor() {
    this.box = paneBox(blessed, 'Syscalls');
  }

  update({ model, ui, theme }: PaneContext): void {
    const { width, height } = inner(this.box);
    this.idx = this.view.lines(model.log, model.visible, ui.filter);
    this.bottom = this.bottomOf(ui);
    const from = Math.max(0, this.bottom - height + 1);
    const lines: string[] = [];
    for (let p = from; p <= this.bottom; p++) lines.push(streamLine(model, this.idx[p]!, width, ui.filter, theme));
    if (!lines.length) {
      const why = model.visible ? 'no line matches the filter (/ to change it)' : model.header?.trace === 'off' ? 'this run recorded no syscalls (trace off)' : 'no syscalls yet';
      lines.push(theme.dim(why));
    }
    this.box.setContent(lines.join('\n'));
    const parts = [`Syscalls ${count(model.syscalls)}`];
    if (!filterIsEmpty(ui.filter)) parts.push(`filter: ${ui.filterText || 'errors'} (${count(this.idx.length)}${this.idx.length >= STREAM_LIMIT ? '+' : ''})`);
    if (!ui.follow) parts.push('scroll paused, f: follow');
    setLabel(this.box, parts.join(' · '), ui.focus === 'syscalls', theme);
  }

  private bottomOf(ui: UiState): number {
    if (ui.follow || !this.idx.length) return this.idx.length - 1;
    // The last line at or before the anchor.
    let lo = 0;
    let hi = this.idx.length - 1;
    if (this.idx[0]! > ui.anchor) return Math.min(this.idx.length - 1, inner(this.box).height - 1);
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.idx[mid]! <= ui.anchor) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  scroll(by: number | 'top' | 'bottom', { ui }: PaneContext): void {
    const { height } = inner(this.box);
    if (by === 'bottom' || !this.idx.length) {
      ui.follow = true;
      return;
    }
    const at = by === 'top' ? Math.min(this.idx.length - 1, height - 1) : Math.max(Math.min(this.idx.length - 1, height - 1), this.bottom + by);
    if (at >= this.idx.length - 1 && by !== 'top') {
      ui.follow = true;
      return;
    }
    ui.follow = false;
    ui.anchor = this.idx[at]!;
  }
}
