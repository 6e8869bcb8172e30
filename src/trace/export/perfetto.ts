// A trace as Chrome Trace Event JSON, which ui.perfetto.dev and
// chrome://tracing open: {"traceEvents":[...],"displayTimeUnit":"ms"}.
//   - glassbox itself is one process (a pid above the kernel's PID_MAX_LIMIT,
//     so it never meets a real one) with three threads: "stages" (each stage
//     a complete X slice, each pause its own slice before the stage it held,
//     undo and exit as instants), "host" (what the Node process did) and
//     "output" (the program's recorded output);
//   - every syscall is an X slice on its own thread's track (pid and tid as
//     the host saw them), named by the first successful execve of the
//     process and thread;
//   - cgroup values from snapshots are C counters where they are numbers.
// Timestamps are µs from the header's t. The text is produced in chunks as
// the events arrive, never as one string.
import { basename } from 'node:path';
import type { GlassboxEvent, SyscallEvent } from '../../events/schema.js';
import { assertNever } from '../../events/schema.js';

/** PID_MAX_LIMIT is 2^22 on 64-bit Linux: no real process has this pid. */
export const GLASSBOX_PID = 4194305;
export const STAGES_TID = GLASSBOX_PID;
export const HOST_TID = GLASSBOX_PID + 1;
export const OUTPUT_TID = GLASSBOX_PID + 2;

/** One Trace Event, the fields this exporter uses. */
export interface TraceEvent {
  name: string;
  ph: 'X' | 'M' | 'C' | 'i';
  ts: number;
  pid: number;
  tid?: number;
  dur?: number;
  cat?: string;
  s?: 't' | 'p' | 'g';
  args?: Record<string, unknown>;
}

const CHUNK_CHARS = 64 * 1024;
const MAX_OUTPUT_CHARS = 1000;

/** '"/usr/bin/cat"' → 'cat': the name a process took at execve. */
function execName(e: SyscallEvent): string | undefined {
  const path = e.args[0];
  if (!path || !path.startsWith('"')) return undefined;
  try {
    return basename(JSON.parse(path.replace(/"\.\.\.$/, '"')) as string) || undefined;
  } catch {
    return basename(path.slice(1, path.lastIndexOf('"') > 0 ? path.lastIndexOf('"') : undefined)) || undefined;
  }
}

/** The Trace Events of a stream, in order (metadata first where it is known first). */
export async function* traceEvents(events: AsyncIterable<GlassboxEvent> | Iterable<GlassboxEvent>): AsyncGenerator<TraceEvent, void, undefined> {
  let t0: number | undefined;
  const us = (t: number) => Math.round((t - (t0 ?? t)) * 1000);
  let last = 0;
  const begun = new Map<string, { ts: number; about?: string }>();
  const paused = new Map<string, number>();
  const named = new Set<string>();
  /** Per thread, where its last syscall slice ended: a slice never starts inside the one before. */
  const threadEnd = new Map<number, number>();
  const meta = (name: 'process_name' | 'thread_name' | 'thread_sort_index', pid: number, tid: number | undefined, args: Record<string, unknown>): TraceEvent => ({ name, ph: 'M', ts: 0, pid, ...(tid === undefined ? {} : { tid }), args });
  const instant = (tid: number, name: string, ts: number, args?: Record<string, unknown>): TraceEvent => ({ name, ph: 'i', s: 't', ts, pid: GLASSBOX_PID, tid, ...(args ? { args } : {}) });

  for await (const e of events) {
    if (t0 === undefined) {
      t0 = e.t;
      yield meta('process_name', GLASSBOX_PID, undefined, { name: 'glassbox' });
      yield meta('thread_name', GLASSBOX_PID, STAGES_TID, { name: 'stages' });
      yield meta('thread_name', GLASSBOX_PID, HOST_TID, { name: 'host' });
      yield meta('thread_name', GLASSBOX_PID, OUTPUT_TID, { name: 'output' });
      yield meta('thread_sort_index', GLASSBOX_PID, STAGES_TID, { sort_index: 0 });
      yield meta('thread_sort_index', GLASSBOX_PID, HOST_TID, { sort_index: 1 });
      yield meta('thread_sort_index', GLASSBOX_PID, OUTPUT_TID, { sort_index: 2 });
    }
    const ts = us(e.t);
    last = Math.max(last, ts);
    switch (e.kind) {
      case 'header':
        yield instant(STAGES_TID, 'start', ts, { argv: e.argv, image: e.image, host: e.host, glassbox: e.glassbox, trace: e.trace });
        break;
      case 'stage':
        switch (e.phase) {
          case 'paused':
            paused.set(e.stage, ts);
            break;
          case 'resumed': {
            const from = paused.get(e.stage) ?? ts;
            paused.delete(e.stage);
            yield { name: `paused before ${e.stage}`, cat: 'pause', ph: 'X', ts: from, dur: ts - from, pid: GLASSBOX_PID, tid: STAGES_TID, args: { stage: e.stage } };
            break;
          }
          case 'begin':
            begun.set(e.stage, { ts, about: e.about });
            break;
          case 'end':
          case 'failed': {
            const b = begun.get(e.stage);
            if (!b) {
              // An undo that failed: there was no begin for it.
              yield instant(STAGES_TID, `${e.stage} ${e.phase}`, ts, e.error ? { error: e.error } : undefined);
              break;
            }
            begun.delete(e.stage);
            yield { name: e.stage, cat: 'stage', ph: 'X', ts: b.ts, dur: Math.max(0, ts - b.ts), pid: GLASSBOX_PID, tid: STAGES_TID, args: { about: b.about, result: e.phase, ...(e.error ? { error: e.error } : {}) } };
            break;
          }
          case 'undone':
            yield instant(STAGES_TID, `${e.stage} undone`, ts);
            break;
          default:
            assertNever(e.phase);
        }
        break;
      case 'host':
        yield instant(HOST_TID, e.detail.what, ts, { ...e.detail });
        break;
      case 'snapshot': {
        const s = e.snapshot;
        yield instant(STAGES_TID, `snapshot at ${s.stage}`, ts, { snapshot: s });
        for (const c of s.cgroup) {
          const v = (c.now ?? c.written).trim();
          if (/^-?\d+(\.\d+)?$/.test(v)) yield { name: basename(c.path), cat: 'cgroup', ph: 'C', ts, pid: GLASSBOX_PID, args: { value: Number(v) } };
        }
        break;
      }
      case 'syscall': {
        if (e.name === 'execve' && e.ret === 0) {
          const name = execName(e);
          if (name && !named.has(`p${e.pid}`)) {
            named.add(`p${e.pid}`);
            yield meta('process_name', e.pid, undefined, { name });
          }
          if (name && !named.has(`t${e.tid}`)) {
            named.add(`t${e.tid}`);
            yield meta('thread_name', e.pid, e.tid, { name });
          }
        }
        // Rounding can make a call start a µs before the previous one ended: it starts at that end instead.
        const start = Math.max(ts, threadEnd.get(e.tid) ?? ts);
        const end = Math.max(start, ts + Math.round(e.dur));
        threadEnd.set(e.tid, end);
        last = Math.max(last, end);
        const args: Record<string, unknown> = { args: e.args.join(', '), ret: e.ret, stage: e.stage };
        if (e.err) args.err = e.err;
        if (e.fd) args.fd = e.fd;
        yield { name: e.name, cat: 'syscall', ph: 'X', ts: start, dur: end - start, pid: e.pid, tid: e.tid, args };
        break;
      }
      case 'output':
        yield instant(OUTPUT_TID, e.stream, ts, { data: e.data.length > MAX_OUTPUT_CHARS ? `${e.data.slice(0, MAX_OUTPUT_CHARS)}...` : e.data });
        break;
      case 'exit':
        yield instant(STAGES_TID, `exit ${e.code}`, ts, { ...e, kind: undefined });
        break;
      case 'note':
        yield instant(STAGES_TID, `note at ${e.stage}`, ts, { heading: e.heading, text: e.text });
        break;
      default:
        assertNever(e);
    }
  }
  // A recording cut short: the stages still running end where the trace ends.
  for (const [stage, b] of begun) yield { name: stage, cat: 'stage', ph: 'X', ts: b.ts, dur: Math.max(0, last - b.ts), pid: GLASSBOX_PID, tid: STAGES_TID, args: { about: b.about, result: 'unfinished' } };
  for (const [stage, from] of paused) yield { name: `paused before ${stage}`, cat: 'pause', ph: 'X', ts: from, dur: Math.max(0, last - from), pid: GLASSBOX_PID, tid: STAGES_TID, args: { stage, result: 'unfinished' } };
}

/** The JSON text of the whole file, in chunks. */
export async function* perfettoJson(events: AsyncIterable<GlassboxEvent> | Iterable<GlassboxEvent>): AsyncGenerator<string, void, undefined> {
  let buf = '{"traceEvents":[\n';
  let first = true;
  for await (const te of traceEvents(events)) {
    buf += (first ? '' : ',\n') + JSON.stringify(te);
    first = false;
    if (buf.length >= CHUNK_CHARS) {
      yield buf;
      buf = '';
    }
  }
  yield `${buf}\n],"displayTimeUnit":"ms"}\n`;
}
