// The lesson of the stage in view, with this run's values in it.
import blessed from 'blessed';
import { wrap } from '../format.js';
import { inner, paneBox, setLabel, type Pane, type PaneContext } from './pane.js';

export class LessonPane implements Pane {
  readonly id = 'lesson' as const;
  readonly box;
  private shown = '';
  private stage = '';

  constructor() {
    this.box = paneBox(blessed, 'Lesson', {
      scrollable: true,
      alwaysScroll: true,
      wrap: true,
      scrollbar: { ch: ' ', style: { inverse: true } } as never,
    });
  }

  update({ model, ui, theme, lessons }: PaneContext): void {
    const row = model.stages[ui.selected];
    const { width } = inner(this.box);
    if (!row) {
      setLabel(this.box, 'Lesson', ui.focus === 'lesson', theme);
      this.box.setContent('');
      return;
    }
    const { title, text, missing } = lessons.render(row.id, model.placeholders(), Math.max(20, width - 2));
    setLabel(this.box, `Lesson: ${title}`, ui.focus === 'lesson', theme);
    const top: string[] = [];
    const pause = ui.waiting ?? model.pause;
    if (pause && pause.stage === row.id) {
      for (const l of wrap(`${theme.warn('PAUSED')} before ${theme.bold(row.id)}: ${pause.about}`, width - 1)) top.push(l);
      const keys = ui.mode === 'live' ? 'n/space: next stage · c: continue · s: shell in the container · b: breakpoint' : 'n/space: next stage · c: continue · ←/→: stage by stage';
      for (const l of wrap(theme.dim(keys), width - 1)) top.push(l);
      top.push('');
    } else if (row.state === 'running' && row.about) {
      for (const l of wrap(`${theme.warn('RUNNING')}: ${row.about}`, width - 1)) top.push(l);
      top.push('');
    }
    const note = model.notes.get(row.id);
    if (note) {
      // The teacher's note for this pause comes before the stage's lesson.
      top.push(theme.bold(`Walkthrough${note.heading ? `: ${note.heading}` : ''}`));
      top.push(lessons.renderNote(note.text, Math.max(20, width - 2)).replace(/\n+$/, ''));
      top.push('');
    }
    const bottom: string[] = [];
    if (missing.length) {
      bottom.push('');
      const when = row.state === 'waiting' ? "known at this stage's pause" : 'not known in this run';
      for (const l of wrap(theme.dim(`Not known yet: ${missing.map((m) => `{{${m}}}`).join(' ')} (${when})`), width - 1)) bottom.push(l);
    }
    const content = [...top, text.replace(/\n+$/, ''), ...bottom].join('\n');
    if (content !== this.shown) {
      this.box.setContent(content);
      this.shown = content;
    }
    if (row.id !== this.stage) {
      this.stage = row.id;
      this.box.scrollTo(0);
    }
  }

  scroll(by: number | 'top' | 'bottom'): void {
    if (by === 'top') this.box.scrollTo(0);
    else if (by === 'bottom') this.box.setScrollPerc(100);
    else this.box.scroll(by);
  }
}
