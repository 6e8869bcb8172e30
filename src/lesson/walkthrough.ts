// Classroom walkthroughs: lessons/walkthroughs/<name>.md. Each is one run of
// glassbox (an image, a command, a few run flags) and the notes a teacher
// wants shown at chosen pauses. This file reads and checks them; it knows
// nothing of terminals or of how a run is driven (run.ts does that).
//
// The format is described for authors in lessons/walkthroughs/README.md.
import * as fs from 'node:fs';
import path from 'node:path';
import { parseCpus, parseMemory } from '../runtime/cgroup/index.js';
import { stageIds } from '../runtime/stages/index.js';
import { GlassboxError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';

/** What a walkthrough's `flags:` may set: the subset of `glassbox run` a lesson needs. */
export interface WalkthroughFlags {
  memoryBytes?: number;
  cpus?: number;
  pidsMax?: number;
  hostname?: string;
  env: string[];
  workdir?: string;
  user?: string;
  network?: 'none' | 'host';
  entrypoint?: string;
}

export interface Note {
  stage: string;
  /** The text after "## at STAGE:", if any. */
  heading?: string;
  /** The note's markdown, placeholders unfilled. */
  text: string;
  /** Line of its "## at" heading, 1-based. */
  line: number;
}

export interface Walkthrough {
  /** The file name without .md: what `glassbox lesson NAME` takes. */
  name: string;
  file: string;
  title: string;
  summary: string;
  /** The image reference; undefined for the built-in demo. */
  image?: string;
  command: string[];
  /** The words of `flags:` as written (for the equivalent `glassbox run` line), and what they set. */
  flagWords: string[];
  flags: WalkthroughFlags;
  /** The stages it pauses before, in run order. */
  breakpoints: string[];
  /** `break: all` */
  breakAll: boolean;
  /** Markdown before the first "##" heading: shown before the run starts. */
  intro: string;
  /** One per breakpoint, by stage id. */
  notes: Map<string, Note>;
  /** "## after": shown once the run has ended. */
  after?: string;
}

/**
 * The placeholders a note may use, and the first pause at which each is
 * known (every later pause knows it too). The TUI's lesson pane fills the
 * same names.
 */
export const PLACEHOLDERS: Readonly<Record<string, { from: string; what: string }>> = {
  root: { from: 'pull', what: 'the store directory (--root)' },
  layerDir: { from: 'create', what: "the image's top layer, unpacked (its diff directory)" },
  id: { from: 'spawn', what: "the container's short id (12 hex digits)" },
  merged: { from: 'spawn', what: "the container's overlay mount point, on the host" },
  pid: { from: 'cgroup', what: 'the helper; from the rootfs pause on, PID 1 as the host numbers it' },
  cgroup: { from: 'ns-user', what: "the container's cgroup directory (the memory controller's where it has one)" },
};

/** What the intro and the "## after" note may use: the run has not started, or is over. */
const INTRO_PLACEHOLDERS = new Set(['root']);
const AFTER_PLACEHOLDERS = new Set(['root', 'id', 'layerDir']);

const KEYS = ['title', 'summary', 'image', 'command', 'flags', 'break'] as const;
type Key = (typeof KEYS)[number];
const REQUIRED: Key[] = ['title', 'summary', 'command', 'break'];

export function defaultWalkthroughDir(): string {
  return path.join(packageRoot(), 'lessons', 'walkthroughs');
}

function fail(file: string, line: number, why: string): never {
  throw new GlassboxError(why, { op: 'lesson', subject: `${file}:${line}`, code: 'EINVAL' });
}

/** Words, as a shell splits them: blanks separate, '...' and "..." quote (no escapes, no expansion). */
export function splitWords(s: string, file: string, line: number): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | undefined;
  for (const ch of s) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) fail(file, line, `unclosed ${quote} quote`);
  if (inWord) words.push(cur);
  return words;
}

/** `flags:` words into what they set; only the flags a walkthrough may give. */
function parseFlags(words: string[], file: string, line: number): WalkthroughFlags {
  const f: WalkthroughFlags = { env: [] };
  const valueOf = (i: number, flag: string, inline: string | undefined): [string, number] => {
    if (inline !== undefined) return [inline, i];
    const v = words[i + 1];
    if (v === undefined) fail(file, line, `${flag} needs a value`);
    return [v, i + 1];
  };
  const parsed = <T>(flag: string, parse: (s: string) => T, v: string): T => {
    try {
      return parse(v);
    } catch (e) {
      return fail(file, line, `${flag} ${v}: ${e instanceof GlassboxError ? e.detail : (e as Error).message}`);
    }
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const eq = w.startsWith('--') ? w.indexOf('=') : -1;
    const flag = eq > 0 ? w.slice(0, eq) : w;
    const inline = eq > 0 ? w.slice(eq + 1) : undefined;
    let v: string;
    switch (flag) {
      case '-m':
      case '--memory':
        [v, i] = valueOf(i, flag, inline);
        f.memoryBytes = parsed(flag, parseMemory, v);
        break;
      case '--cpus':
        [v, i] = valueOf(i, flag, inline);
        f.cpus = parsed(flag, parseCpus, v);
        break;
      case '--pids-limit':
        [v, i] = valueOf(i, flag, inline);
        if (!/^\d+$/.test(v) || Number(v) < 1) fail(file, line, `--pids-limit ${v}: a whole number, 1 or more`);
        f.pidsMax = Number(v);
        break;
      case '--hostname':
        [v, i] = valueOf(i, flag, inline);
        f.hostname = v;
        break;
      case '-e':
      case '--env':
        [v, i] = valueOf(i, flag, inline);
        f.env.push(v);
        break;
      case '-w':
      case '--workdir':
        [v, i] = valueOf(i, flag, inline);
        f.workdir = v;
        break;
      case '-u':
      case '--user':
        [v, i] = valueOf(i, flag, inline);
        f.user = v;
        break;
      case '--network':
        [v, i] = valueOf(i, flag, inline);
        if (v !== 'none' && v !== 'host') fail(file, line, `--network ${v}: none or host`);
        f.network = v;
        break;
      case '--entrypoint':
        [v, i] = valueOf(i, flag, inline);
        f.entrypoint = v;
        break;
      default:
        fail(file, line, `flag "${w}" is not one a walkthrough may give: --memory, --cpus, --pids-limit, --hostname, --env, --workdir, --user, --network, --entrypoint`);
    }
  }
  return f;
}

/** Check the {{names}} of one line against what is known where it is shown. */
function checkPlaceholders(text: string, file: string, line: number, where: string, known: (name: string) => boolean): void {
  for (const m of text.matchAll(/\{\{([^}]*)\}\}/g)) {
    const name = m[1]!;
    const p = PLACEHOLDERS[name];
    if (!p) fail(file, line, `unknown placeholder {{${name}}}; known: ${Object.keys(PLACEHOLDERS).map((n) => `{{${n}}}`).join(' ')}`);
    if (!known(name)) fail(file, line, `{{${name}}} is not known ${where} (it is from the ${p.from} pause on)`);
  }
}

/** Parse a walkthrough's text; `file` names it in errors. Every problem is one line naming the file and the line. */
export function parseWalkthrough(text: string, file: string): Walkthrough {
  const ids = stageIds();
  const lines = text.split('\n');
  if (lines[0]?.trim() !== '---') fail(file, 1, 'a walkthrough starts with a front matter block: a line "---", then "key: value" lines, then "---"');
  const fields = new Map<Key, { value: string; line: number }>();
  let i = 1;
  for (; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.trim() === '---') break;
    if (l.trim() === '' || l.trimStart().startsWith('#')) continue;
    const m = /^([A-Za-z-]+):\s*(.*)$/.exec(l);
    if (!m) fail(file, i + 1, `expected "key: value" in the front matter, got "${l.trim()}"`);
    const key = m[1]! as Key;
    if (!KEYS.includes(key)) fail(file, i + 1, `unknown key "${m[1]}"; keys: ${KEYS.join(', ')}`);
    if (fields.has(key)) fail(file, i + 1, `"${key}" given twice (first on line ${fields.get(key)!.line})`);
    fields.set(key, { value: m[2]!.trim(), line: i + 1 });
  }
  if (i >= lines.length) fail(file, 1, 'the front matter block has no closing "---" line');
  const endOfFront = i + 1;
  for (const k of REQUIRED) {
    const f = fields.get(k);
    if (!f || f.value === '') fail(file, f?.line ?? endOfFront, `missing "${k}:" in the front matter`);
  }
  const field = (k: Key) => fields.get(k)!;

  const command = splitWords(field('command').value, file, field('command').line);
  if (command.length === 0) fail(file, field('command').line, 'the command is empty');
  const flagsField = fields.get('flags');
  const flagWords = flagsField ? splitWords(flagsField.value, file, flagsField.line) : [];
  const flags = parseFlags(flagWords, file, flagsField?.line ?? endOfFront);
  const imageField = fields.get('image');
  if (imageField && (imageField.value === '' || /\s/.test(imageField.value))) fail(file, imageField.line, 'the image is one reference, as in glassbox/demo or busybox:latest');

  const breakField = field('break');
  const breakAll = breakField.value === 'all';
  const wanted = new Set<string>();
  if (!breakAll) {
    for (const s of breakField.value.split(',').map((x) => x.trim())) {
      if (!s) fail(file, breakField.line, 'an empty stage in "break:"; give stage ids separated by commas, or all');
      if (!ids.includes(s)) fail(file, breakField.line, `unknown stage "${s}"; stages: ${ids.join(', ')}`);
      if (wanted.has(s)) fail(file, breakField.line, `stage "${s}" given twice`);
      wanted.add(s);
    }
  }
  const breakpoints = breakAll ? [...ids] : ids.filter((s) => wanted.has(s));

  // The body: the intro, then "## at STAGE" notes and an optional "## after".
  const notes = new Map<string, Note>();
  const introLines: string[] = [];
  let current: { kind: 'intro' } | { kind: 'note'; note: Note; body: string[] } | { kind: 'after'; body: string[]; line: number } = { kind: 'intro' };
  let afterBody: string[] | undefined;
  const close = () => {
    if (current.kind === 'note') current.note.text = tidy(current.body);
    if (current.kind === 'after') afterBody = current.body;
  };
  let fence: { marker: string; line: number } | undefined;
  for (let n = endOfFront; n < lines.length; n++) {
    const l = lines[n]!;
    const lineNo = n + 1;
    const f = /^\s*(```+|~~~+)/.exec(l);
    if (f) {
      if (!fence) fence = { marker: f[1]!, line: lineNo };
      else if (l.trim().startsWith(fence.marker) && l.trim().slice(fence.marker.length).trim() === '') fence = undefined;
    }
    if (!fence && /^##\s/.test(l)) {
      close();
      const at = /^##\s+at\s+(\S+?)(?::\s*(.*))?\s*$/.exec(l);
      if (at) {
        const stage = at[1]!;
        if (!ids.includes(stage)) fail(file, lineNo, `unknown stage "${stage}"; stages: ${ids.join(', ')}`);
        if (!breakpoints.includes(stage)) fail(file, lineNo, `a note at ${stage}, which is not in "break:" (line ${breakField.line}): it would never be shown`);
        if (notes.has(stage)) fail(file, lineNo, `a second note at ${stage} (the first is on line ${notes.get(stage)!.line})`);
        const note: Note = { stage, heading: at[2]?.trim() || undefined, text: '', line: lineNo };
        notes.set(stage, note);
        current = { kind: 'note', note, body: [] };
      } else if (/^##\s+after\s*$/.test(l)) {
        if (afterBody !== undefined) fail(file, lineNo, 'a second "## after" section');
        current = { kind: 'after', body: [], line: lineNo };
      } else {
        fail(file, lineNo, 'a level-2 heading must be "## at STAGE" (optionally "## at STAGE: words") or "## after"; use ### inside a note');
      }
      continue;
    }
    if (current.kind === 'intro') introLines.push(l);
    else current.body.push(l);
    // Placeholders: checked where the line is shown.
    if (current.kind === 'intro') checkPlaceholders(l, file, lineNo, 'before the run starts', (name) => INTRO_PLACEHOLDERS.has(name));
    else if (current.kind === 'after') checkPlaceholders(l, file, lineNo, 'after the run', (name) => AFTER_PLACEHOLDERS.has(name));
    else {
      const at = current.note.stage;
      checkPlaceholders(l, file, lineNo, `at the ${at} pause`, (name) => ids.indexOf(PLACEHOLDERS[name]!.from) <= ids.indexOf(at));
    }
  }
  if (fence) fail(file, fence.line, `a code block opened with ${fence.marker} is never closed`);
  close();
  for (const s of breakpoints) {
    if (!notes.has(s)) fail(file, breakField.line, `no note for ${s}: add a "## at ${s}" section`);
    if (notes.get(s)!.text === '') fail(file, notes.get(s)!.line, `the note at ${s} is empty`);
  }
  // Notes in run order: the file reads in the order the student meets them.
  const order = [...notes.values()];
  for (let k = 1; k < order.length; k++) {
    if (ids.indexOf(order[k]!.stage) < ids.indexOf(order[k - 1]!.stage)) fail(file, order[k]!.line, `the note at ${order[k]!.stage} comes after the one at ${order[k - 1]!.stage}, but the run meets it first`);
  }

  return {
    name: path.basename(file).replace(/\.md$/, ''),
    file,
    title: field('title').value,
    summary: field('summary').value,
    image: imageField?.value,
    command,
    flagWords,
    flags,
    breakpoints,
    breakAll,
    intro: tidy(introLines),
    notes,
    after: afterBody ? tidy(afterBody) || undefined : undefined,
  };
}

/** Lines back to text, without the blank lines around it. */
function tidy(lines: string[]): string {
  return lines.join('\n').replace(/^\s*\n/, '').trim();
}

export function loadWalkthrough(file: string): Walkthrough {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new GlassboxError(`cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { op: 'lesson', subject: file, code: (e as NodeJS.ErrnoException).code, cause: e });
  }
  return parseWalkthrough(text, file);
}

/** The walkthrough files of a directory: every NAME.md but README.md. */
function walkthroughFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    throw new GlassboxError(`cannot read the walkthrough directory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { op: 'lesson', subject: dir, code: (e as NodeJS.ErrnoException).code, cause: e });
  }
  return names
    .filter((n) => n.endsWith('.md') && n.toLowerCase() !== 'readme.md')
    .sort()
    .map((n) => path.join(dir, n));
}

/** Every walkthrough in dir, by name; the first malformed file stops the list with its error. */
export function listWalkthroughs(dir: string = defaultWalkthroughDir()): Walkthrough[] {
  return walkthroughFiles(dir).map(loadWalkthrough);
}

/** The walkthrough called name; an unknown name is one line listing the known ones. */
export function findWalkthrough(name: string, dir: string = defaultWalkthroughDir()): Walkthrough {
  const files = walkthroughFiles(dir);
  const file = files.find((f) => path.basename(f, '.md') === name);
  if (!file) {
    const known = files.map((f) => path.basename(f, '.md'));
    throw new GlassboxError(`no walkthrough "${name}"; walkthroughs: ${known.join(', ') || '(none)'}`, { op: 'lesson', code: 'ENOENT' });
  }
  return loadWalkthrough(file);
}

/** The note to show at a pause before stageId, placeholders unfilled; undefined when it has none. */
export function walkthroughNotes(w: Walkthrough, stageId: string): string | undefined {
  return w.notes.get(stageId)?.text;
}

/** {{name}} -> its value; names with no value yet stay as they are. */
export function fillValues(md: string, values: Record<string, string>): string {
  return md.replace(/\{\{(\w+)\}\}/g, (all, name: string) => values[name] ?? all);
}

/** The "try it" commands of a note: each ```sh block, with the line its first command is on (within the note). */
export function tryItBlocks(md: string): { code: string; line: number }[] {
  const out: { code: string; line: number }[] = [];
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*```(sh|bash|shell)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++) body.push(lines[j]!);
    out.push({ code: body.join('\n'), line: i + 2 });
    i = j;
  }
  return out;
}

/** The `glassbox run` line that does what the walkthrough runs, for a student to type later. */
export function runCommandLine(w: Walkthrough): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const words = ['glassbox', 'run', '--rm', ...w.flagWords, w.image ?? 'glassbox/demo', ...w.command];
  return words.map(q).join(' ');
}
