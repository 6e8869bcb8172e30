// Reading a trace file back: one event per line, streamed, gzip or not
// (told by the magic bytes, not the name). Every event before a break is
// delivered, then the break is one GlassboxError line saying what and where:
// "trace run.jsonl.gz: line 812: the file ends in the middle of a compressed block".
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createGunzip } from 'node:zlib';
import type { GlassboxEvent, HeaderEvent } from '../events/schema.js';
import { SCHEMA_VERSION } from '../events/schema.js';
import { GlassboxError } from '../util/errors.js';

/** Bytes read from the file at a time: a compressed chunk expands to a few hundred kB of lines at most. */
const READ_BYTES = 64 * 1024;

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

/**
 * The file's bytes, decompressed if they start with the gzip magic, a chunk
 * at a time. Each chunk's output is delivered before the next chunk is read,
 * so memory stays bounded; a decompression error comes after every byte
 * zlib produced before it.
 */
async function* bytesOf(path: string, fh: FileHandle): AsyncGenerator<Buffer, void, undefined> {
  const buf = Buffer.alloc(READ_BYTES);
  let pos = 0;
  let gunzip: ReturnType<typeof createGunzip> | undefined;
  let out: Buffer[] = [];
  let zerr: Error | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  try {
    for (;;) {
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(buf, 0, READ_BYTES, pos));
      } catch (e) {
        throw fail(path, `reading failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'EIO', e);
      }
      if (pos === 0 && n >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
        gunzip = createGunzip();
        gunzip.on('data', (c: Buffer) => out.push(c));
        gunzip.on('error', (e) => {
          zerr = e;
          wake?.();
        });
        gunzip.on('end', () => {
          ended = true;
          wake?.();
        });
      }
      pos += n;
      if (!gunzip) {
        if (n === 0) return;
        yield Buffer.from(buf.subarray(0, n));
        continue;
      }
      const z = gunzip;
      await new Promise<void>((resolve) => {
        if (zerr || ended) return resolve();
        wake = resolve;
        if (n > 0) z.write(Buffer.from(buf.subarray(0, n)), () => resolve());
        else z.end();
      });
      wake = undefined;
      // 'data' may trail the write callback by a tick.
      await nextTurn();
      const got = out;
      out = [];
      for (const c of got) yield c;
      if (zerr) throw zerr;
      if (n === 0 || ended) return;
    }
  } finally {
    gunzip?.destroy();
  }
}

/** Why a gunzip failed, said the way a person reading the trace needs it. */
function zlibWhy(e: Error & { code?: string; errno?: number }): string {
  if (e.code === 'Z_BUF_ERROR') return 'the file ends in the middle of a compressed block (a recording cut short)';
  return `the compressed data is damaged (${e.message})`;
}

/**
 * The events of a trace file, in order, header first. Streams: memory does
 * not grow with the file. Throws GlassboxError: the file cannot be read, is
 * not a glassbox trace, was written by a newer glassbox, or breaks at line N
 * (after delivering every event before it).
 */
export async function* readTrace(path: string): AsyncGenerator<GlassboxEvent, void, undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw openError(path, e as NodeJS.ErrnoException);
  }
  let n = 0;
  let partial: Buffer[] = [];
  let partialBytes = 0;
  let sawAny = false;
  try {
    try {
      for await (const chunk of bytesOf(path, fh)) {
        if (!sawAny && chunk.length) {
          sawAny = true;
          // Refuse a binary file at once rather than read it all looking for a newline.
          const c = chunk.toString('latin1', 0, Math.min(chunk.length, 64)).trimStart()[0];
          if (c !== undefined && c !== '{') throw fail(path, 'not a glassbox trace: the first line is not a header', 'EINVAL');
        }
        let from = 0;
        for (;;) {
          const nl = chunk.indexOf(10, from);
          if (nl < 0) break;
          let line: Buffer = chunk.subarray(from, nl);
          if (partialBytes) {
            line = Buffer.concat([...partial, line]);
            partial = [];
            partialBytes = 0;
          }
          from = nl + 1;
          n++;
          const text = line.toString('utf8').replace(/\r$/, '');
          if (!text.trim()) {
            if (n === 1) throw fail(path, 'not a glassbox trace: the first line is not a header', 'EINVAL');
            continue;
          }
          yield parseLine(path, text, n);
        }
        if (from < chunk.length) {
          partial.push(Buffer.from(chunk.subarray(from)));
          partialBytes += chunk.length - from;
          if (partialBytes > MAX_LINE) throw fail(path, `line ${n + 1}: longer than ${MAX_LINE / 1024 / 1024} MB: not a trace line`);
        }
      }
    } catch (e) {
      if (e instanceof GlassboxError) throw e;
      const z = e as Error & { code?: string };
      if (typeof z.code === 'string' && z.code.startsWith('Z_')) throw fail(path, `line ${n + 1}: ${zlibWhy(z)}`, 'EBADMSG', e);
      throw e;
    }
    if (partialBytes) {
      // The last line has no newline: whole if it parses, else the file was cut inside it.
      const text = Buffer.concat(partial).toString('utf8');
      n++;
      let whole = true;
      try {
        JSON.parse(text);
      } catch {
        whole = false;
      }
      if (!whole && n > 1) throw fail(path, `line ${n}: the file ends in the middle of a line (a recording cut short)`);
      yield parseLine(path, text, n);
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
