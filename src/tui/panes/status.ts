// The bottom line: the keys that do something now, or a message; and the
// filter prompt, which takes its place while you type.
import blessed from 'blessed';
import type { Widgets } from 'blessed';
import { fit } from '../format.js';
import type { Model } from '../model.js';
import type { UiState } from '../state.js';
import type { Theme } from '../theme.js';

export function keyHints(model: Model, ui: UiState): string {
  if (ui.finished !== undefined) return `The program exited with code ${ui.finished}.  q: quit   ↑↓ Tab 1-6: look around`;
  const common = 'Tab/1-6: panes  ↑↓: move  /: filter  b: breakpoint';
  const r = ui.replay;
  if (!r) {
    if (ui.waiting) return `PAUSED before ${ui.waiting.stage}  n/space: next stage  c: continue${ui.mode === 'live' ? '  s: shell' : ''}  ${common}`;
    return `${model.current ?? ''}  n: pause at the next stage  ${common}  q: quit`;
  }
  return `${r.playing ? 'p: pause' : 'p: play'}  n/space: next stage  c: play to the end  ←→: stage  ,.: event  +-: speed  Enter: jump  ${common}`;
}

export class StatusBar {
  readonly box;
  private prompt?: Widgets.TextboxElement;
  constructor(
    private readonly screen: Widgets.Screen,
    private readonly theme: Theme,
  ) {
    this.box = blessed.box({ bottom: 0, left: 0, height: 1, width: '100%', tags: false, style: theme.color ? { fg: 'white', bg: 'blue' } : { inverse: true } });
  }

  update(model: Model, ui: UiState): void {
    const width = this.box.width as number;
    const text = ui.message ?? keyHints(model, ui);
    this.box.setContent(fit(' ' + text, width));
  }

  get prompting(): boolean {
    return this.prompt !== undefined;
  }

  /** Ask for a line on the status bar; resolves with it, or undefined on Escape. */
  ask(question: string, initial: string): Promise<string | undefined> {
    return new Promise((resolve) => {
      const label = blessed.box({ parent: this.screen, bottom: 0, left: 0, height: 1, width: question.length + 1, content: question, style: this.theme.color ? { fg: 'black', bg: 'yellow' } : { inverse: true } });
      const input = blessed.textbox({ parent: this.screen, bottom: 0, left: question.length + 1, height: 1, width: `100%-${question.length + 1}`, inputOnFocus: false, style: {} });
      this.prompt = input;
      const done = (value: string | undefined) => {
        this.prompt = undefined;
        label.destroy();
        input.destroy();
        this.screen.render();
        resolve(value);
      };
      input.setValue(initial);
      input.readInput((err, value) => done(err ? undefined : (value ?? undefined)));
      this.screen.render();
    });
  }
}
