// The grid: which pane goes where for the terminal's size, in one place.
// Wide terminals show every pane; medium ones keep the stage list and the
// syscall stream in view and put the rest in tabs; 80x24 makes every pane a
// tab. Rectangles never overlap: computeLayout is a pure function the tests
// check at every size.
import blessed from 'blessed';
import type { Widgets } from 'blessed';
import { PANES, PANE_TITLES, type PaneId } from './state.js';
import type { Theme } from './theme.js';

export interface Rect {
  top: number;
  left: number;
  width: number;
  height: number;
}

export interface Layout {
  kind: 'wide' | 'medium' | 'narrow';
  /** Where each shown pane goes; panes not in it are hidden. */
  rects: Partial<Record<PaneId, Rect>>;
  /** Panes that share the tab area, in tab order (empty when wide). */
  tabs: PaneId[];
  tabBar?: Rect;
  header: Rect;
  status: Rect;
}

export const WIDE = { cols: 150, rows: 40 };
export const MEDIUM = { cols: 100, rows: 28 };

/** `shown` is the pane the tab area shows; it must be one of the layout's tabs (else the first). */
export function computeLayout(cols: number, rows: number, shown: PaneId): Layout {
  cols = Math.max(cols, 20);
  rows = Math.max(rows, 8);
  const header: Rect = { top: 0, left: 0, width: cols, height: 1 };
  const status: Rect = { top: rows - 1, left: 0, width: cols, height: 1 };
  const bodyTop = 1;
  const bodyH = rows - 2;
  if (cols >= WIDE.cols && rows >= WIDE.rows) {
    const left = 30;
    const right = Math.max(48, Math.floor(cols * 0.3));
    const center = cols - left - right;
    const lessonH = Math.floor(bodyH * 0.55);
    const nsH = 14;
    const fsH = 14;
    const cgH = bodyH - nsH - fsH;
    return {
      kind: 'wide',
      header,
      status,
      tabs: [],
      rects: {
        stages: { top: bodyTop, left: 0, width: left, height: bodyH },
        lesson: { top: bodyTop, left, width: center, height: lessonH },
        syscalls: { top: bodyTop + lessonH, left, width: center, height: bodyH - lessonH },
        namespaces: { top: bodyTop, left: left + center, width: right, height: nsH },
        cgroup: { top: bodyTop + nsH, left: left + center, width: right, height: cgH },
        filesystem: { top: bodyTop + nsH + cgH, left: left + center, width: right, height: bodyH - nsH - cgH },
      },
    };
  }
  if (cols >= MEDIUM.cols && rows >= MEDIUM.rows) {
    const left = 28;
    const width = cols - left;
    const tabs: PaneId[] = ['lesson', 'namespaces', 'cgroup', 'filesystem'];
    const tab = tabs.includes(shown) ? shown : tabs[0]!;
    const streamH = Math.max(7, Math.floor((bodyH - 1) * 0.38));
    const tabH = bodyH - 1 - streamH;
    return {
      kind: 'medium',
      header,
      status,
      tabs,
      tabBar: { top: bodyTop, left, width, height: 1 },
      rects: {
        stages: { top: bodyTop, left: 0, width: left, height: bodyH },
        [tab]: { top: bodyTop + 1, left, width, height: tabH },
        syscalls: { top: bodyTop + 1 + tabH, left, width, height: streamH },
      },
    };
  }
  const tabs = [...PANES];
  const tab = tabs.includes(shown) ? shown : 'lesson';
  return {
    kind: 'narrow',
    header,
    status,
    tabs,
    tabBar: { top: bodyTop, left: 0, width: cols, height: 1 },
    rects: { [tab]: { top: bodyTop + 1, left: 0, width: cols, height: bodyH - 1 } },
  };
}

/** The tab bar's text, and where each label sits (for mouse clicks). */
export function tabBar(tabs: PaneId[], width: number): { text: string; spans: { id: PaneId; from: number; to: number }[] } {
  const spans: { id: PaneId; from: number; to: number }[] = [];
  let text = '';
  const long = tabs.map((id) => ` ${PANES.indexOf(id) + 1} ${PANE_TITLES[id]} `);
  const total = long.reduce((n, s) => n + s.length + 1, 0);
  const labels = total <= width ? long : tabs.map((id) => ` ${PANES.indexOf(id) + 1}:${PANE_TITLES[id].slice(0, 4)} `);
  tabs.forEach((id, i) => {
    const label = labels[i]!;
    if (text.length + label.length > width) return;
    spans.push({ id, from: text.length, to: text.length + label.length });
    text += label + (i < tabs.length - 1 ? ' ' : '');
  });
  return { text, spans };
}

export interface ScreenOptions {
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  theme: Theme;
}

/** The blessed screen, set up for a full-screen app that restores the terminal when it ends. */
export function makeScreen(o: ScreenOptions): Widgets.Screen {
  return blessed.screen({
    input: o.input as never,
    output: o.output as never,
    smartCSR: true,
    fullUnicode: false,
    autoPadding: true,
    warnings: false,
    title: 'glassbox',
    // Keys are ours: Ctrl-C quits through the same path as q.
    ignoreLocked: ['C-c'],
    dockBorders: false,
  } as Widgets.IScreenOptions);
}

export function place(el: Widgets.BlessedElement, r: Rect | undefined): void {
  if (!r || r.width < 1 || r.height < 1) {
    el.hide();
    return;
  }
  el.top = r.top;
  el.left = r.left;
  el.width = r.width;
  el.height = r.height;
  el.show();
}
