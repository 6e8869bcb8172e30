// Reading a trace file back: one event per line, streamed, gzip or not
// (told by the magic bytes, not the name). Every event before a break is
// delivered, then the break is one GlassboxError line saying what and where:
// "trace run.jsonl.gz: line 812: the file ends in the middle of a compressed block".
import { isAscii } from 'node:buffer';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { GlassboxEvent, HeaderEvent } from '../events/schema.js';
import { SCHEMA_VERSION } from '../events/schema.js';
import { GlassboxError } from '../util/errors.js';

/** Bytes read from a plain file at a time, the next read going on while this one's lines are parsed; small enough that a reader handing pieces to another parser hears back between them. */
const READ_BYTES = 256 * 1024;

/** Compressed bytes fed to gunzip at a time: a chunk expands to about a megabyte of lines. */
const GZ_READ_BYTES = 64 * 1024;

/** Decompressed bytes gunzip may get ahead of the parser by, on the thread pool. */
const GZ_AHEAD = 4 * 1024 * 1024;

/** A line longer than this is not a trace line (a snapshot is tens of kB). */
const MAX_LINE = 64 * 1024 * 1024;

type Checked = Record<string, unknown>;

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

/** What each kind needs to be usable by every consumer; a new kind breaks the build here until it is listed. */
const CHECKS: Record<GlassboxEvent['kind'], (o: Checked) => string | undefined> = {
  header: () => 'a second header',
  stage: (o) => (!isStr(o.stage) ? 'no stage id' : !['begin', 'paused', 'resumed', 'end', 'failed', 'undone'].includes(o.phase as string) ? `unknown stage phase ${JSON.stringify(o.phase)}` : undefined),
  host: (o) => (typeof o.detail !== 'object' || o.detail === null || !isStr((o.detail as Checked).what) ? 'no detail' : undefined),
  snapshot: (o) => (typeof o.snapshot !== 'object' || o.snapshot === null ? 'no snapshot' : undefined),
  syscall: (o) =>
    !isNum(o.pid) || !isNum(o.tid)
      ? 'no pid or tid'
      : !isStr(o.name) || !isNum(o.nr)
        ? 'no name or number'
        : !Array.isArray(o.args)
          ? 'no args'
          : !(o.ret === null || isNum(o.ret))
            ? 'no return value'
            : !isNum(o.dur)
              ? 'no duration'
              : !isStr(o.stage)
                ? 'no stage'
                : undefined,
  output: (o) => (o.stream !== 'stdout' && o.stream !== 'stderr' ? 'no stream' : !isStr(o.data) ? 'no data' : undefined),
  exit: (o) => (!isNum(o.code) ? 'no exit code' : undefined),
  note: (o) => (!isStr(o.stage) ? 'no stage' : !isStr(o.text) ? 'no text' : undefined),
};

function fail(path: string, detail: string, code = 'EBADMSG', cause?: unknown): GlassboxError {
  return new GlassboxError(detail, { op: 'trace', subject: path, code, cause });
}

function jsonError(e: unknown): string {
  const m = (e as Error).message;
  return m.length > 100 ? `${m.slice(0, 97)}...` : m;
}

/** One line, parsed and checked; the header rules apply to line 1. */
function parseLine(path: string, text: string, n: number): GlassboxEvent {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    if (n === 1) throw fail(path, 'not a glassbox trace: the first line is not JSON', 'EINVAL');
    // Said of the line without its \r, as a person sees it.
    if (text.endsWith('\r')) return parseLine(path, text.slice(0, -1), n);
    throw fail(path, `line ${n}: not JSON (${jsonError(e)})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    if (n === 1) throw fail(path, 'not a glassbox trace: the first line is not a header', 'EINVAL');
    throw fail(path, `line ${n}: not an event (a JSON ${Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v})`);
  }
  const o = v as Checked;
  if (n === 1) {
    if (o.kind !== 'header') throw fail(path, 'not a glassbox trace: the first line is not a header', 'EINVAL');
    const h = o as unknown as HeaderEvent;
    if (!Number.isInteger(h.schema) || h.schema < 1) throw fail(path, 'not a glassbox trace: the header has no schema version', 'EINVAL');
    if (h.schema > SCHEMA_VERSION) throw fail(path, `written by a newer glassbox (schema ${h.schema}, this one reads ${SCHEMA_VERSION})`, 'EPROTONOSUPPORT');
    if (!isNum(h.t) || !Array.isArray(h.stages)) throw fail(path, 'line 1: a header without a start time or stages');
    return h;
  }
  const kind = o.kind;
  if (!isStr(kind) || !Object.hasOwn(CHECKS, kind)) throw fail(path, `line ${n}: unknown event kind ${JSON.stringify(kind ?? null)}`);
  const wrong = (!isNum(o.t) ? 'no time' : undefined) ?? CHECKS[kind as GlassboxEvent['kind']](o);
  if (wrong) throw fail(path, `line ${n}: a ${kind} event with ${wrong}`);
  return o as unknown as GlassboxEvent;
}

function openError(path: string, e: NodeJS.ErrnoException): GlassboxError {
  const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' || e.code === 'EPERM' ? `cannot read it: ${e.code}` : e.code === 'EISDIR' ? 'is a directory, not a trace file' : `cannot read it: ${e.code ?? e.message}`;
  return fail(path, why, e.code ?? 'EIO', e);
}

/** Read into `buf` at `pos`, a failure said as the trace's. */
async function readAt(path: string, fh: FileHandle, buf: Buffer, pos: number): Promise<number> {
  try {
    return (await fh.read(buf, 0, buf.length, pos)).bytesRead;
  } catch (e) {
    throw fail(path, `reading failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'EIO', e);
  }
}

/**
 * The file's bytes, decompressed if they start with the gzip magic, a chunk
 * at a time. The next read (or gunzip, on the thread pool) goes on while the
 * caller parses a chunk, but never more than a few megabytes ahead, so memory
 * stays bounded. A chunk is only good until the caller asks for the next.
 * A decompression error comes after every byte zlib produced before it.
 */
async function* bytesOf(path: string, fh: FileHandle): AsyncGenerator<Buffer, void, undefined> {
  const first = Buffer.allocUnsafe(READ_BYTES);
  const n0 = await readAt(path, fh, first, 0);
  if (n0 >= 2 && first[0] === 0x1f && first[1] === 0x8b) return yield* gunzipped(path, fh, first.subarray(0, n0));
  // Two buffers: one being parsed, the other being filled.
  let cur = first;
  let spare = Buffer.allocUnsafe(READ_BYTES);
  let n = n0;
  let pos = n0;
  while (n > 0) {
    const next = readAt(path, fh, spare, pos);
    // A failed read is thrown where it is awaited, not as an unhandled rejection meanwhile.
    next.catch(() => {});
    yield cur.subarray(0, n);
    n = await next;
    pos += n;
    [cur, spare] = [spare, cur];
  }
}

async function* gunzipped(path: string, fh: FileHandle, head: Buffer): AsyncGenerator<Buffer, void, undefined> {
  const z = createGunzip({ chunkSize: 256 * 1024 });
  let out: Buffer[] = [];
  let outBytes = 0;
  let failed: Error | undefined;
  let ended = false;
  /** The reader is done with us (an early return): feed nothing more. */
  let stopped = false;
  let wake: (() => void) | undefined;
  let room: (() => void) | undefined;
  const poke = () => {
    wake?.();
    wake = undefined;
    room?.();
    room = undefined;
  };
  // Flowing, never paused: each piece is delivered as zlib makes it, so none is lost to an error after it.
  z.on('data', (c: Buffer) => {
    out.push(c);
    outBytes += c.length;
    wake?.();
    wake = undefined;
  });
  z.on('error', (e) => {
    failed ??= e;
    poke();
  });
  z.on('end', () => {
    ended = true;
    poke();
  });
  z.on('drain', poke);
  const feed = async () => {
    let pos = head.length;
    let chunk: Buffer = head;
    for (;;) {
      if (!z.write(chunk)) await new Promise<void>((r) => (room = r));
      // Feed no more while the parser is behind by more than GZ_AHEAD.
      while (outBytes >= GZ_AHEAD && !failed && !stopped) await new Promise<void>((r) => (room = r));
      if (failed || stopped) return;
      const buf = Buffer.allocUnsafe(GZ_READ_BYTES);
      const n = await readAt(path, fh, buf, pos);
      if (failed || stopped) return;
      if (n === 0) {
        z.end();
        return;
      }
      pos += n;
      chunk = buf.subarray(0, n);
    }
  };
  const feeding = feed().catch((e: unknown) => {
    failed ??= e as Error;
    poke();
  });
  try {
    for (;;) {
      if (out.length) {
        const got = out;
        out = [];
        outBytes = 0;
        room?.();
        room = undefined;
        for (const c of got) yield c;
        continue;
      }
      if (failed) throw failed;
      if (ended) return;
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    stopped = true;
    z.destroy();
    poke();
    await feeding;
  }
}

/** Why a gunzip failed, said the way a person reading the trace needs it. */
function zlibWhy(e: Error & { code?: string; errno?: number }): string {
  if (e.code === 'Z_BUF_ERROR') return 'the file ends in the middle of a compressed block (a recording cut short)';
  return `the compressed data is damaged (${e.message})`;
}

/** A trace's events, and the same in arrays for a reader that keeps up with a million of them. */
export interface TraceReader extends AsyncGenerator<GlassboxEvent, void, undefined> {
  /** The file read. */
  readonly path: string;
  /**
   * The file read again, its events in arrays (one per piece of the file
   * read), with the same errors after the same events. Use it instead of
   * iterating the reader, not as well.
   */
  batches(): AsyncGenerator<GlassboxEvent[], void, undefined>;
}

/**
 * The events of a trace file, in order, header first. Streams: memory does
 * not grow with the file. Throws GlassboxError: the file cannot be read, is
 * not a glassbox trace, was written by a newer glassbox, or breaks at line N
 * (after delivering every event before it).
 */
export function readTrace(path: string): TraceReader {
  const one = (async function* () {
    for await (const batch of readTraceBatches(path)) yield* batch;
  })();
  return Object.assign(one, { path, batches: () => readTraceBatches(path) });
}

/**
 * readTrace's events in arrays, one per piece of the file read (a few
 * thousand events): the same events, the same errors after the same events,
 * for a fraction of the cost of an await per event.
 */
export async function* readTraceBatches(path: string): AsyncGenerator<GlassboxEvent[], void, undefined> {
  let batch: GlassboxEvent[] = [];
  try {
    for await (const _ of readTraceInto(path, (e) => batch.push(e))) {
      if (!batch.length) continue;
      const b = batch;
      batch = [];
      yield b;
    }
  } catch (e) {
    // Every event before the break first.
    if (batch.length) yield batch;
    throw e;
  }
}

/**
 * Whole lines of a trace (bytes ending with a newline), the first of them
 * line `first`: each event to `take` as soon as its line is parsed. Returns
 * the number of lines. Throws the reader's GlassboxError for a broken line,
 * after the events before it.
 */
export function parseLines(path: string, bytes: Buffer, first: number, take: (e: GlassboxEvent) => void): number {
  // A newline byte is never inside a UTF-8 sequence, so whole lines decode on their own; ASCII (most traces) at memcpy speed, as latin1.
  const text = bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
  let n = first - 1;
  let from = 0;
  for (;;) {
    const nl = text.indexOf('\n', from);
    if (nl < 0) return n - first + 1;
    n++;
    // JSON.parse takes a trailing \r as the whitespace it is; a line without its `{` is looked at closer.
    const line = text.slice(from, nl);
    from = nl + 1;
    if (line.charCodeAt(0) !== 0x7b && !line.trim()) {
      if (n === 1) throw fail(path, 'not a glassbox trace: the first line is not a header', 'EINVAL');
      continue;
    }
    take(parseLine(path, line, n));
  }
}

/** Newlines in `bytes`. */
function countLines(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(10); at >= 0; at = bytes.indexOf(10, at + 1)) count++;
  return count;
}

/**
 * Takes whole lines (bytes ending with a newline, the first of them line
 * `first`, `count` of them) to be parsed elsewhere (parseLines), or says
 * false and they are parsed here. The bytes are only good during the call.
 */
export type LineHandoff = (bytes: Buffer, first: number, count: number) => boolean;

/** Pieces smaller than this are parsed where they are read: not worth a message. */
const HANDOFF_MIN = 64 * 1024;
/** The size of a piece that may be handed off: parsed in a few ms, so the other parser's thread stays responsive. */
const HANDOFF_PIECE = 256 * 1024;

/**
 * The lowest level: each event handed to `take` as soon as its line is
 * parsed (a caller that keeps only what it needs of an event lets the rest
 * go at once), and a pause after each piece of the file read, where the
 * caller may do its own work. The same events and errors as readTrace.
 * With `handoff`, pieces of whole lines after the first line may go to
 * another parser instead (which then owes their events and errors).
 */
export async function* readTraceInto(path: string, take: (e: GlassboxEvent) => void, handoff?: LineHandoff): AsyncGenerator<void, void, undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw openError(path, e as NodeJS.ErrnoException);
  }
  let n = 0;
  /** The bytes after the last newline so far: the start of a line. */
  let rest: Buffer[] = [];
  let restBytes = 0;
  let sawAny = false;
  const piece = (bytes: Buffer) => {
    if (handoff && n > 0 && bytes.length >= HANDOFF_MIN) {
      const count = countLines(bytes);
      if (handoff(bytes, n + 1, count)) {
        n += count;
        return;
      }
    }
    n += parseLines(path, bytes, n + 1, take);
  };
  /** Whole lines, in pieces of about HANDOFF_PIECE when they may be handed off. */
  const wholeLines = (bytes: Buffer) => {
    let at = 0;
    while (handoff && bytes.length - at > 2 * HANDOFF_PIECE) {
      const nl = bytes.indexOf(10, at + HANDOFF_PIECE);
      piece(bytes.subarray(at, nl + 1));
      at = nl + 1;
    }
    piece(at ? bytes.subarray(at) : bytes);
  };
  try {
    try {
      for await (const chunk of bytesOf(path, fh)) {
        if (!sawAny && chunk.length) {
          sawAny = true;
          // Refuse a binary file at once rather than read it all looking for a newline.
          const c = chunk.toString('latin1', 0, Math.min(chunk.length, 64)).trimStart()[0];
          if (c !== undefined && c !== '{') throw fail(path, 'not a glassbox trace: the first line is not a header', 'EINVAL');
        }
        const firstNl = chunk.indexOf(10);
        if (firstNl < 0) {
          rest.push(Buffer.from(chunk));
          restBytes += chunk.length;
          if (restBytes > MAX_LINE) throw fail(path, `line ${n + 1}: longer than ${MAX_LINE / 1024 / 1024} MB: not a trace line`);
          continue;
        }
        // The text is cut at newlines: the line begun in earlier chunks, then the chunk's whole lines.
        let at = 0;
        if (restBytes) {
          rest.push(chunk.subarray(0, firstNl + 1));
          wholeLines(Buffer.concat(rest));
          rest = [];
          restBytes = 0;
          at = firstNl + 1;
        }
        const lastNl = chunk.lastIndexOf(10);
        if (lastNl >= at) wholeLines(chunk.subarray(at, lastNl + 1));
        if (lastNl + 1 < chunk.length) {
          rest.push(Buffer.from(chunk.subarray(lastNl + 1)));
          restBytes = chunk.length - lastNl - 1;
        }
        yield;
      }
    } catch (e) {
      if (e instanceof GlassboxError) throw e;
      const z = e as Error & { code?: string };
      if (typeof z.code === 'string' && z.code.startsWith('Z_')) throw fail(path, `line ${n + 1}: ${zlibWhy(z)}`, 'EBADMSG', e);
      throw e;
    }
    if (restBytes) {
      // The last line has no newline: whole if it parses, else the file was cut inside it.
      const text = Buffer.concat(rest).toString('utf8');
      n++;
      let whole = true;
      try {
        JSON.parse(text);
      } catch {
        whole = false;
      }
      if (!whole && n > 1) throw fail(path, `line ${n}: the file ends in the middle of a line (a recording cut short)`);
      take(parseLine(path, text, n));
      yield;
    }
    if (n === 0) throw fail(path, 'not a glassbox trace: the file is empty', 'EINVAL');
  } finally {
    await fh.close().catch(() => {});
  }
}

/** readTrace with a callback, for callers that do not iterate. */
export async function forEachEvent(path: string, onEvent: (e: GlassboxEvent) => void | Promise<void>): Promise<void> {
  for await (const e of readTrace(path)) await onEvent(e);
}
