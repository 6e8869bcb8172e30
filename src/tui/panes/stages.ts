// The stage pipeline: every stage with its state, duration and syscall
// count, breakpoints marked; under it, what the selected stage does.
import blessed from 'blessed';
import { count, duration, fit, pad, wrap } from '../format.js';
import type { StageRow, StageState } from '../model.js';
import { hasBreakpoint } from '../state.js';
import type { Theme } from '../theme.js';
import { inner, paneBox, setLabel, type Pane, type PaneContext } from './pane.js';

const SYMBOL: Record<StageState, string> = {
  waiting: '·',
  running: '▶',
  paused: '‖',
  done: '✓',
  failed: '✗',
  undone: '↩',
};

function paint(state: StageState, s: string, theme: Theme): string {
  switch (state) {
    case 'waiting':
      return theme.dim(s);
    case 'running':
      return theme.warn(s);
    case 'paused':
      return theme.color ? theme.c.magenta.bold(s) : theme.bold(s);
    case 'done':
      return theme.ok(s);
    case 'failed':
      return theme.err(s);
    case 'undone':
      return theme.dim(s);
  }
}

/** One stage as a line `width` wide: "● ✓ ns-uts        3ms    12". */
export function stageLine(s: StageRow, breakpoint: boolean, width: number, now: number, theme: Theme): { plain: string; painted: string } {
  const ms = s.begin !== undefined ? (s.end ?? (s.state === 'running' ? now : s.begin)) - s.begin : undefined;
  const right = width >= 24 ? `${duration(ms).padStart(6)}${count(s.syscalls).padStart(5)}` : width >= 17 ? count(s.syscalls).padStart(5) : '';
  const idW = Math.max(1, width - 4 - right.length);
  const mark = breakpoint ? '●' : ' ';
  const id = pad(s.id, idW);
  const plain = fit(`${mark} ${SYMBOL[s.state]} ${id}${right}`, width);
  if (width < 6) return { plain, painted: plain };
  const idPainted = s.state === 'waiting' || s.state === 'undone' ? theme.dim(id) : s.state === 'failed' ? theme.err(id) : s.state === 'running' || s.state === 'paused' ? theme.bold(id) : id;
  const painted = `${breakpoint ? theme.err(mark) : mark} ${paint(s.state, SYMBOL[s.state], theme)} ${idPainted}${theme.dim(right)}`;
  return { plain, painted };
}

export class StagesPane implements Pane {
  readonly id = 'stages' as const;
  readonly box;
  constructor() {
    this.box = paneBox(blessed, 'Stages');
  }

  update({ model, ui, theme }: PaneContext): void {
    const { width, height } = inner(this.box);
    setLabel(this.box, `Stages ${model.stages.filter((s) => s.state === 'done' || s.state === 'undone').length}/${model.stages.length}`, ui.focus === 'stages', theme);
    const now = Date.now();
    const lines: string[] = [];
    model.stages.forEach((s, i) => {
      const { plain, painted } = stageLine(s, hasBreakpoint(ui.breakpoints, s.id), width, ui.replay?.t ?? now, theme);
      lines.push(i === ui.selected ? theme.inverse(plain + ' '.repeat(Math.max(0, width - plain.length))) : painted);
    });
    const sel = model.stages[ui.selected];
    const room = height - lines.length - 1;
    if (sel && room >= 2) {
      lines.push('');
      const detail: string[] = [];
      detail.push(`${sel.id}: ${sel.state}${sel.syscalls ? `, ${sel.syscalls} syscalls` : ''}`);
      if (sel.about) detail.push(sel.about);
      if (sel.error) detail.push(theme.err(sel.error));
      if (hasBreakpoint(ui.breakpoints, sel.id)) detail.push('● breakpoint (b)');
      for (const d of detail) for (const l of wrap(d, width)) lines.push(l);
    }
    this.box.setContent(lines.slice(0, Math.max(height, model.stages.length)).join('\n'));
  }

  scroll(by: number | 'top' | 'bottom', { model, ui }: PaneContext): void {
    const n = model.stages.length;
    if (by === 'top') ui.selected = 0;
    else if (by === 'bottom') ui.selected = n - 1;
    else ui.selected = Math.max(0, Math.min(n - 1, ui.selected + by));
    ui.selectionFollows = false;
  }

  click(line: number, { model, ui }: PaneContext): void {
    if (line >= 0 && line < model.stages.length) {
      ui.selected = line;
      ui.selectionFollows = false;
    }
  }
}
