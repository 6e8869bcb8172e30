// What every pane is: a bordered box that fills itself from the model and
// the UI state when the app redraws (at most every 50 ms), and never reads
// events or files itself.
import type { Widgets } from 'blessed';
import type { LessonCache } from '../lesson.js';
import type { Model } from '../model.js';
import type { PaneId, UiState } from '../state.js';
import type { Theme } from '../theme.js';

export interface PaneContext {
  model: Model;
  ui: UiState;
  theme: Theme;
  lessons: LessonCache;
}

export interface Pane {
  readonly id: PaneId;
  readonly box: Widgets.BoxElement;
  update(ctx: PaneContext): void;
  /** Up/down/page keys and the wheel, when the pane has the focus. */
  scroll?(by: number | 'top' | 'bottom', ctx: PaneContext): void;
  /** A click on a line of the pane (0 = first line inside the border). */
  click?(line: number, ctx: PaneContext): void;
  /** The box got a new size or was shown again. */
  resized?(): void;
}

/** Inner size of a bordered box. */
export function inner(box: Widgets.BoxElement): { width: number; height: number } {
  const w = typeof box.width === 'number' ? box.width : Number(box.width);
  const h = typeof box.height === 'number' ? box.height : Number(box.height);
  return { width: Math.max(0, w - 2), height: Math.max(0, h - 2) };
}

export function paneBox(blessed: typeof import('blessed'), label: string, extra: Widgets.BoxOptions = {}): Widgets.BoxElement {
  return blessed.box({
    label: ` ${label} `,
    border: { type: 'line' },
    tags: false,
    wrap: false,
    style: { border: {}, label: {} },
    ...extra,
  });
}

/** The box's label, with the focus shown. */
export function setLabel(box: Widgets.BoxElement, text: string, focused: boolean, theme: Theme): void {
  const label = ` ${text} `;
  box.setLabel(focused ? theme.inverse(label) : label);
  (box.style as { border: { fg?: string } }).border.fg = focused ? theme.fg('cyan') : undefined;
}
