// The running TUI: the screen and its panes (laid out by screen.ts), the
// model they show, the keys, and a redraw at most every 50 ms however many
// events arrive. Live and replay differ only in the Driver: what n, c, the
// arrows and the speed keys do.
import blessed from 'blessed';
import type { Widgets } from 'blessed';
import { LessonCache } from './lesson.js';
import { Model, parseFilter } from './model.js';
import { CgroupPane } from './panes/cgroup.js';
import { FilesystemPane } from './panes/filesystem.js';
import { HeaderBar } from './panes/header.js';
import { helpBox } from './panes/help.js';
import { LessonPane } from './panes/lesson.js';
import { NamespacesPane } from './panes/namespaces.js';
import type { Pane, PaneContext } from './panes/pane.js';
import { StagesPane } from './panes/stages.js';
import { StatusBar } from './panes/status.js';
import { SyscallsPane } from './panes/syscalls.js';
import { computeLayout, makeScreen, place, tabBar, type Layout } from './screen.js';
import { initialUi, PANES, type PaneId, type UiState } from './state.js';
import { makeTheme, noColorRequested, type Theme } from './theme.js';

export const FRAME_MS = 50;

/** What the mode-specific keys do. */
export interface Driver {
  step(): void;
  cont(): void;
  shell?(): void;
  playPause?(): void;
  seekStage?(dir: 1 | -1): void;
  seekEvent?(dir: 1 | -1): void;
  seekEdge?(end: boolean): void;
  speed?(dir: 1 | -1): void;
  jump?(stage: string): void;
  /** The breakpoint set was edited by b. */
  breakpointsEdited?(): void;
}

export interface AppOptions {
  mode: 'live' | 'replay';
  stages: string[];
  breakpoints?: Set<string> | 'all';
  lessonsDir: string;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
}

export class App {
  readonly theme: Theme;
  readonly screen: Widgets.Screen;
  model: Model;
  readonly ui: UiState;
  readonly lessons: LessonCache;
  readonly panes: Record<PaneId, Pane>;
  private readonly header: HeaderBar;
  private readonly status: StatusBar;
  private readonly tabs: Widgets.BoxElement;
  private readonly help: Widgets.BoxElement;
  private layout: Layout;
  private tabSpans: ReturnType<typeof tabBar>['spans'] = [];
  private timer?: NodeJS.Timeout;
  private clock?: NodeJS.Timeout;
  private lastRender = 0;
  private suspended = false;
  destroyed = false;
  driver: Driver = { step() {}, cont() {} };
  /** q or Ctrl-C. */
  onQuit?: () => void;
  private lastPause?: string;

  constructor(o: AppOptions, model?: Model) {
    this.theme = makeTheme(!noColorRequested());
    this.model = model ?? new Model(o.stages);
    this.ui = initialUi(o.mode, o.breakpoints);
    this.lessons = new LessonCache(o.lessonsDir, this.theme);
    this.screen = makeScreen({ input: o.input, output: o.output, theme: this.theme });
    // Box-drawing characters as UTF-8, not the terminal's alternate charset: the same on every terminal, and in tmux's capture.
    const tput = (this.screen as unknown as { tput: { unicode: boolean; brokenACS: boolean } }).tput;
    if (tput.unicode) tput.brokenACS = true;
    const t = this.theme;
    this.panes = {
      stages: new StagesPane(),
      lesson: new LessonPane(),
      syscalls: new SyscallsPane(),
      namespaces: new NamespacesPane(),
      cgroup: new CgroupPane(t),
      filesystem: new FilesystemPane(),
    };
    this.header = new HeaderBar(t);
    this.status = new StatusBar(this.screen, t);
    this.tabs = blessed.box({ height: 1, tags: false, style: {} });
    this.help = helpBox(t);
    this.screen.append(this.header.box);
    this.screen.append(this.tabs);
    for (const id of PANES) this.screen.append(this.panes[id].box);
    this.screen.append(this.status.box);
    this.screen.append(this.help);
    this.layout = computeLayout(this.screen.width as number, this.screen.height as number, this.ui.tab);
    this.applyLayout();
    this.bindKeys();
    this.bindMouse();
    this.screen.on('resize', () => {
      try {
        this.applyLayout();
      } catch (e) {
        this.ui.message = `resize: ${(e as Error).message}`;
      }
      this.render();
    });
    // Running stages' durations and a replay's clock move without events.
    this.clock = setInterval(() => this.invalidate(), 250);
    this.clock.unref();
    this.render();
  }

  private ctx(): PaneContext {
    return { model: this.model, ui: this.ui, theme: this.theme, lessons: this.lessons };
  }

  /** Draw soon: at most one frame per FRAME_MS, whatever the number of calls. */
  invalidate(): void {
    if (this.destroyed || this.suspended || this.timer) return;
    const wait = Math.max(0, FRAME_MS - (Date.now() - this.lastRender));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.render();
    }, wait);
  }

  private applyLayout(): void {
    const cols = this.screen.width as number;
    const rows = this.screen.height as number;
    if (this.layout.tabs.length && !this.layout.tabs.includes(this.ui.tab)) this.ui.tab = this.layout.tabs[0]!;
    this.layout = computeLayout(cols, rows, this.ui.tab);
    if (this.layout.tabs.length && !this.layout.tabs.includes(this.ui.tab)) {
      this.ui.tab = this.layout.tabs.includes('lesson') ? 'lesson' : this.layout.tabs[0]!;
      this.layout = computeLayout(cols, rows, this.ui.tab);
    }
    // The focus must be on a pane that is shown.
    if (!this.layout.rects[this.ui.focus]) this.ui.focus = this.layout.tabs.includes(this.ui.tab) ? this.ui.tab : 'lesson';
    place(this.header.box, this.layout.header);
    place(this.status.box, this.layout.status);
    place(this.tabs, this.layout.tabBar);
    for (const id of PANES) {
      place(this.panes[id].box, this.layout.rects[id]);
      if (this.layout.rects[id]) this.panes[id].resized?.();
    }
    this.help.width = Math.min(74, cols);
    this.help.height = Math.min(this.help.getContent().split('\n').length + 2, rows);
  }

  render(): void {
    if (this.destroyed || this.suspended) return;
    this.lastRender = Date.now();
    const m = this.model;
    const ui = this.ui;
    const pause = ui.waiting ?? m.pause;
    if (pause && pause.stage !== this.lastPause) {
      // A new pause: show its stage and its lesson.
      ui.selectionFollows = true;
      if (this.layout.tabs.includes('lesson') && ui.focus !== 'stages') this.focus('lesson');
    }
    this.lastPause = pause?.stage;
    if (ui.selectionFollows) {
      const cur = pause?.stage ?? m.current;
      const i = cur ? m.stageIndex(cur) : -1;
      if (i >= 0) ui.selected = i;
    }
    ui.selected = Math.max(0, Math.min(ui.selected, m.stages.length - 1));
    this.header.update(m, ui);
    this.status.update(m, ui);
    if (this.layout.tabBar) {
      const bar = tabBar(this.layout.tabs, this.layout.tabBar.width);
      this.tabSpans = bar.spans;
      let text = '';
      let at = 0;
      for (const s of bar.spans) {
        text += bar.text.slice(at, s.from);
        const label = bar.text.slice(s.from, s.to);
        text += s.id === ui.tab ? this.theme.inverse(this.theme.bold(label)) : label;
        at = s.to;
      }
      this.tabs.setContent(text + bar.text.slice(at));
    }
    const ctx = this.ctx();
    for (const id of PANES) {
      if (!this.layout.rects[id]) continue;
      try {
        this.panes[id].update(ctx);
      } catch (e) {
        // A pane that cannot draw says why in its place; the rest go on.
        this.panes[id].box.setContent(this.theme.err(`cannot draw this pane: ${(e as Error).message}`));
      }
    }
    if (ui.help) {
      this.help.show();
      this.help.setFront();
    } else this.help.hide();
    this.screen.render();
  }

  focus(id: PaneId): void {
    this.ui.focus = id;
    if (this.layout.tabs.includes(id) && this.ui.tab !== id) {
      this.ui.tab = id;
      this.applyLayout();
    }
  }

  private cycleFocus(dir: 1 | -1): void {
    const shown = this.layout.kind === 'narrow' ? this.layout.tabs : PANES.filter((p) => this.layout.rects[p] || this.layout.tabs.includes(p));
    const i = shown.indexOf(this.ui.focus);
    this.focus(shown[(i + dir + shown.length) % shown.length]!);
  }

  toggleBreakpoint(): void {
    const stage = this.model.stages[this.ui.selected];
    if (!stage) return;
    let bp = this.ui.breakpoints;
    if (bp === 'all') bp = new Set(this.model.stages.map((s) => s.id));
    if (bp.has(stage.id)) bp.delete(stage.id);
    else bp.add(stage.id);
    this.ui.breakpoints = bp;
    this.ui.message = `${bp.has(stage.id) ? 'breakpoint on' : 'no breakpoint on'} ${stage.id}`;
    this.driver.breakpointsEdited?.();
  }

  private async askFilter(): Promise<void> {
    const answer = await this.status.ask('filter (names, stages, err, text):', this.ui.filterText);
    if (answer === undefined || this.destroyed) return;
    this.setFilter(answer);
    this.render();
  }

  setFilter(text: string): void {
    this.ui.filterText = text.trim();
    this.ui.filter = parseFilter(
      this.ui.filterText,
      this.model.stages.map((s) => s.id),
      this.model.log.names.slice(1),
    );
    this.ui.follow = true;
  }

  private bindKeys(): void {
    this.screen.on('keypress', (ch: string | undefined, key: Widgets.Events.IKeyEventArg | undefined) => {
      if (this.destroyed || this.suspended || this.status.prompting) return;
      const name = key?.full ?? key?.name ?? ch ?? '';
      if (this.ui.help) {
        this.ui.help = false;
        if (name !== 'q' && name !== 'C-c') {
          this.render();
          return;
        }
      }
      this.ui.message = undefined;
      try {
        this.key(name, ch);
      } catch (e) {
        this.ui.message = `${name}: ${(e as Error).message}`;
      }
      if (!this.destroyed) this.render();
    });
  }

  /** One key, by blessed's name for it ('n', 'S-tab', 'C-c') and the character typed. */
  key(name: string, ch?: string): void {
    const d = this.driver;
    const ui = this.ui;
    const focused = this.panes[ui.focus];
    const ctx = this.ctx();
    const page = Math.max(1, ((focused.box.height as number) || 4) - 3);
    switch (name) {
      case 'q':
      case 'C-c':
        this.onQuit?.();
        return;
      case 'n':
      case 'space':
        return d.step();
      case 'c':
        return d.cont();
      case 'b':
        return this.toggleBreakpoint();
      case 's':
        if (d.shell) d.shell();
        else ui.message = 'a shell needs a live run (glassbox run), at a pause';
        return;
      case '/':
        void this.askFilter();
        return;
      case '?':
        ui.help = true;
        return;
      case 'e':
        ui.filter = { ...ui.filter, errorsOnly: !ui.filter.errorsOnly };
        ui.filterText = [ui.filterText.replace(/\berr\b/g, '').trim(), ui.filter.errorsOnly ? 'err' : ''].filter(Boolean).join(' ');
        ui.follow = true;
        return;
      case 'f':
        ui.follow = !ui.follow;
        if (!ui.follow) ui.anchor = this.model.visible - 1;
        return;
      case 'escape':
        if (ui.filterText) this.setFilter('');
        return;
      case 'tab':
        return this.cycleFocus(1);
      case 'S-tab':
        return this.cycleFocus(-1);
      case 'up':
      case 'k':
        return focused.scroll?.(-1, ctx);
      case 'down':
      case 'j':
        return focused.scroll?.(1, ctx);
      case 'pageup':
        return focused.scroll?.(-page, ctx);
      case 'pagedown':
        return focused.scroll?.(page, ctx);
      case 'home':
        return focused.scroll?.('top', ctx);
      case 'end':
        return focused.scroll?.('bottom', ctx);
      case 'left':
        return d.seekStage?.(-1);
      case 'right':
        return d.seekStage?.(1);
      // blessed reports Enter twice, 'enter' then 'return': the second would act after a prompt took the first.
      case 'enter': {
        const stage = this.model.stages[ui.selected];
        if (stage && d.jump) d.jump(stage.id);
        return;
      }
      case 'p':
        return d.playPause?.();
      case ',':
        return d.seekEvent?.(-1);
      case '.':
        return d.seekEvent?.(1);
      case 'g':
        return d.seekEdge?.(false);
      case 'S-g':
        return d.seekEdge?.(true);
    }
    switch (ch) {
      case '+':
      case '=':
        return d.speed?.(1);
      case '-':
      case '_':
        return d.speed?.(-1);
      case 'G':
        return d.seekEdge?.(true);
      case '?':
        ui.help = true;
        return;
    }
    if (ch && ch >= '1' && ch <= '6') this.focus(PANES[Number(ch) - 1]!);
  }

  private bindMouse(): void {
    for (const id of PANES) {
      const pane = this.panes[id];
      const box = pane.box;
      box.on('click', (data: { x: number; y: number }) => {
        if (this.destroyed) return;
        this.ui.focus = id;
        const top = (box.atop as number) + (box.itop as number);
        pane.click?.(data.y - top + ((box.childBase as number) ?? 0), this.ctx());
        this.render();
      });
      box.on('wheelup', () => {
        pane.scroll?.(-3, this.ctx());
        this.render();
      });
      box.on('wheeldown', () => {
        pane.scroll?.(3, this.ctx());
        this.render();
      });
    }
    this.tabs.on('click', (data: { x: number }) => {
      const x = data.x - (this.tabs.aleft as number);
      const hit = this.tabSpans.find((s) => x >= s.from && x < s.to);
      if (hit) {
        this.focus(hit.id);
        this.render();
      }
    });
  }

  /** Give the terminal to another program (a shell), and take it back after. */
  async suspend<T>(run: () => Promise<T>): Promise<T> {
    const program = this.screen.program as unknown as { pause(): () => void };
    this.suspended = true;
    const resume = program.pause();
    try {
      return await run();
    } finally {
      resume();
      this.suspended = false;
      if (!this.destroyed) {
        this.screen.alloc();
        this.render();
      }
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.clock) clearInterval(this.clock);
    try {
      this.screen.destroy();
    } catch {
      // Already gone with its terminal.
    }
  }
}
