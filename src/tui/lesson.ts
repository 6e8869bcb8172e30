// A stage's lesson: lessons/<id>.md with this run's values put into its
// {{placeholders}}, rendered for the terminal with marked-terminal. A value
// not known yet stays as its placeholder, dimmed: the lesson still reads.
import * as fs from 'node:fs';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { Marked } from 'marked';
import { markedTerminal } from 'marked-terminal';
import { packageRoot } from '../util/paths.js';
import type { Theme } from './theme.js';

// Private-use characters mark where a value went in: markdown leaves them
// alone (code blocks included), and after rendering they become colour.
const LIVE_OPEN = '\uE000';
const LIVE_CLOSE = '\uE001';
const MISSING_OPEN = '\uE002';
const MISSING_CLOSE = '\uE003';

export function defaultLessonsDir(): string {
  return path.join(packageRoot(), 'lessons');
}

const sources = new Map<string, string | null>();

/** The lesson's markdown, or null when the stage has none. Read once. */
export function lessonSource(dir: string, id: string): string | null {
  const file = path.join(dir, `${id}.md`);
  let s = sources.get(file);
  if (s === undefined) {
    try {
      s = fs.readFileSync(file, 'utf8');
    } catch {
      s = null;
    }
    sources.set(file, s);
  }
  return s;
}

/** The placeholders a lesson uses, in order of first use. */
export function placeholdersIn(md: string): string[] {
  return [...new Set([...md.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]!))];
}

/** {{name}} -> its value, marked; unknown names stay, marked as missing. */
export function fillPlaceholders(md: string, values: Record<string, string>, mark = true): string {
  return md.replace(/\{\{(\w+)\}\}/g, (all, name: string) => {
    const v = values[name];
    if (v === undefined) return mark ? `${MISSING_OPEN}${all}${MISSING_CLOSE}` : all;
    return mark ? `${LIVE_OPEN}${v}${LIVE_CLOSE}` : v;
  });
}

/** The lesson as terminal text, `width` columns wide. */
export function renderLesson(md: string, values: Record<string, string>, width: number, theme: Theme): string {
  const marked = new Marked();
  marked.use(
    markedTerminal({
      width: Math.max(20, width),
      reflowText: true,
      emoji: false,
      tab: 2,
      showSectionPrefix: false,
    }, {
      // A block with no language tag (a listing, a file's contents) is shown
      // as it is: guessing one tries each of highlight.js's ~190 grammars,
      // most of a second for the first lesson on screen.
      languageSubset: ['plaintext'],
    }) as Parameters<Marked['use']>[0],
  );
  let out = marked.parse(fillPlaceholders(md, values), { async: false }) as string;
  if (!theme.color) out = stripVTControlCharacters(out);
  out = out
    .replace(new RegExp(`${LIVE_OPEN}([^${LIVE_CLOSE}]*)${LIVE_CLOSE}`, 'g'), (_, v: string) => theme.live(v))
    .replace(new RegExp(`${MISSING_OPEN}([^${MISSING_CLOSE}]*)${MISSING_CLOSE}`, 'g'), (_, v: string) => theme.dim(v));
  // Markers split by reflow at a line end: drop the strays.
  return out.replace(/[\uE000-\uE003]/g, '').replace(/\n{3,}/g, '\n\n');
}

/** The lesson's first heading: "ns-uts: a hostname of its own". */
export function lessonTitle(md: string | null, id: string): string {
  const h = md ? /^#\s+(.+)$/m.exec(md) : null;
  return h ? h[1]!.trim() : id;
}

/** Renders are cached by stage, width and the values the lesson uses. */
export class LessonCache {
  private cache = new Map<string, string>();
  constructor(
    private readonly dir: string,
    private readonly theme: Theme,
  ) {}

  render(id: string, values: Record<string, string>, width: number): { title: string; text: string; missing: string[] } {
    const md = lessonSource(this.dir, id);
    if (md === null) return { title: id, text: this.theme.dim(`No lesson for ${id} (${path.join(this.dir, `${id}.md`)}).`), missing: [] };
    const used = placeholdersIn(md);
    const missing = used.filter((n) => values[n] === undefined);
    const key = `${id}\0${width}\0${used.map((n) => values[n] ?? '').join('\0')}`;
    let text = this.cache.get(key);
    if (text === undefined) {
      text = renderLesson(md, values, width, this.theme);
      if (this.cache.size > 64) this.cache.clear();
      this.cache.set(key, text);
    }
    return { title: lessonTitle(md, id), text, missing };
  }

  /** A walkthrough's note (its values already filled when it was shown), rendered as a lesson is. */
  renderNote(md: string, width: number): string {
    const key = `note\0${width}\0${md}`;
    let text = this.cache.get(key);
    if (text === undefined) {
      text = renderLesson(md, {}, width, this.theme);
      this.cache.set(key, text);
    }
    return text;
  }
}
