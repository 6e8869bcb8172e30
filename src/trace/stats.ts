// strace -c over a trace, per stage: calls, errors and time by syscall, and
// the slowest calls of the whole run. Time is the tracer's duration, entry to
// exit with the tracer's own overhead (strace -c -w's wall time, not its
// default system time).
import type { GlassboxEvent, SyscallEvent } from '../events/schema.js';
import { clockTime, straceCall, straceDuration, straceResult } from './export/strace.js';

export interface CallCount {
  name: string;
  calls: number;
  errors: number;
  /** Total duration, µs. */
  us: number;
}

export interface StageStats {
  stage: string;
  byName: Map<string, CallCount>;
  total: CallCount;
}

export interface TraceStats {
  /** In the run's stage order (the header's), then stages the header did not name, as first seen. */
  stages: StageStats[];
  total: CallCount;
  /** The slowest calls overall, slowest first. */
  slowest: SyscallEvent[];
}

export const SLOWEST = 10;

/** An accumulator: feed it events with addEvent, read it with result. */
export interface StatsBuilder {
  addEvent(e: GlassboxEvent): void;
  result(): TraceStats;
}

const count = (name: string): CallCount => ({ name, calls: 0, errors: 0, us: 0 });

function tally(c: CallCount, e: SyscallEvent): void {
  c.calls++;
  if (e.err) c.errors++;
  c.us += e.dur;
}

export function statsBuilder(slowestN = SLOWEST): StatsBuilder {
  const order: string[] = [];
  const stages = new Map<string, StageStats>();
  const total = count('total');
  const slowest: SyscallEvent[] = [];
  const stageOf = (id: string): StageStats => {
    let s = stages.get(id);
    if (!s) {
      s = { stage: id, byName: new Map(), total: count('total') };
      stages.set(id, s);
      if (!order.includes(id)) order.push(id);
    }
    return s;
  };
  return {
    addEvent(e) {
      if (e.kind === 'header') {
        for (const id of e.stages) if (!order.includes(id)) order.push(id);
        return;
      }
      if (e.kind !== 'syscall') return;
      const s = stageOf(e.stage);
      let c = s.byName.get(e.name);
      if (!c) s.byName.set(e.name, (c = count(e.name)));
      tally(c, e);
      tally(s.total, e);
      tally(total, e);
      if (slowest.length < slowestN || e.dur > slowest[slowest.length - 1]!.dur) {
        let i = slowest.length;
        while (i > 0 && slowest[i - 1]!.dur < e.dur) i--;
        slowest.splice(i, 0, e);
        if (slowest.length > slowestN) slowest.pop();
      }
    },
    result() {
      return { stages: order.flatMap((id) => stages.get(id) ?? []), total, slowest: [...slowest] };
    },
  };
}

/** The stats of a whole stream. */
export async function traceStats(events: AsyncIterable<GlassboxEvent> | Iterable<GlassboxEvent>): Promise<TraceStats> {
  const b = statsBuilder();
  for await (const e of events) b.addEvent(e);
  return b.result();
}

const RULE = '------ ----------- ----------- --------- --------- ----------------';

/** One stage's table, strace -c's columns, by time. */
export function formatTable(s: StageStats): string {
  const rows = [...s.byName.values()].sort((a, b) => b.us - a.us || b.calls - a.calls || a.name.localeCompare(b.name));
  const line = (c: CallCount) => {
    const pct = s.total.us > 0 ? (100 * c.us) / s.total.us : 0;
    const perCall = c.calls ? Math.floor(c.us / c.calls) : 0;
    return `${pct.toFixed(2).padStart(6)} ${(c.us / 1e6).toFixed(6).padStart(11)} ${String(perCall).padStart(11)} ${String(c.calls).padStart(9)} ${(c.errors ? String(c.errors) : '').padStart(9)} ${c.name}\n`;
  };
  return `% time     seconds  usecs/call     calls    errors syscall\n${RULE}\n${rows.map(line).join('')}${RULE}\n${line(s.total)}`;
}

function shorten(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** The whole report: each stage's table, then the slowest calls. */
export function formatStats(st: TraceStats): string {
  if (!st.total.calls) return 'no syscalls in this trace (recorded with the tracer off?)\n';
  const parts: string[] = [];
  for (const s of st.stages) {
    if (!s.total.calls) continue;
    parts.push(`stage ${s.stage}: ${s.total.calls} calls, ${(s.total.us / 1e6).toFixed(6)} s\n${formatTable(s)}`);
  }
  const stageW = Math.max(5, ...st.slowest.map((e) => e.stage.length));
  const pidW = Math.max(3, ...st.slowest.map((e) => String(e.tid).length));
  const head = `${'time'.padEnd(15)}  ${'pid'.padStart(pidW)}  ${'stage'.padEnd(stageW)}  call\n`;
  const rows = st.slowest.map((e) => `${clockTime(e.t)}  ${String(e.tid).padStart(pidW)}  ${e.stage.padEnd(stageW)}  ${shorten(straceCall(e), 100)} ${straceResult(e)} ${straceDuration(e.dur)}\n`);
  parts.push(`slowest ${st.slowest.length} of ${st.total.calls} calls:\n${head}${rows.join('')}`);
  return parts.join('\n');
}
