// What can be seen of a half-built container from outside, at a pause: its
// namespaces beside the host's, its mount table, the cgroup files glassbox
// wrote and what they hold now, its network interfaces, its processes.
// Read from /proc of the helper (or of init, once it exists).
import * as fs from 'node:fs';
import type { Snapshot } from '../events/schema.js';
import type { RunContext } from './context.js';

export type { Snapshot };

export const NAMESPACES = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'pid_for_children', 'user', 'uts'] as const;

function readlink(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch {
    return '';
  }
}

function read(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

export async function takeSnapshot(ctx: RunContext, stage: string): Promise<Snapshot> {
  const pid = ctx.helper?.initPid ?? ctx.helper?.pid;
  const namespaces = NAMESPACES.map((type) => {
    const host = readlink(`/proc/self/ns/${type}`);
    const container = pid ? readlink(`/proc/${pid}/ns/${type}`) : '';
    return { type, host, container, changed: container !== '' && container !== host };
  });
  const userns = namespaces.find((n) => n.type === 'user')?.changed;
  const mapOf = (f: string) => (read(`/proc/${pid}/${f}`) ?? '').trim().split('\n').map((l) => l.trim().split(/\s+/).join(' ')).filter(Boolean);
  const idMaps = userns ? { uid: mapOf('uid_map'), gid: mapOf('gid_map') } : undefined;
  const mountinfo = pid ? (read(`/proc/${pid}/mountinfo`) ?? '').trim().split('\n') : [];
  const cgroup = (ctx.cgroup?.written ?? []).map((w) => ({ path: w.path, written: w.value, now: read(w.path)?.trim(), why: w.why }));
  const interfaces = pid
    ? (read(`/proc/${pid}/net/dev`) ?? '')
        .split('\n')
        .slice(2)
        .map((l) => l.split(':')[0]!.trim())
        .filter(Boolean)
    : [];
  const procs = ctx.cgroup ? await ctx.cgroup.procs() : pid ? [pid] : [];
  const processes = procs.map((p) => ({ pid: p, comm: (read(`/proc/${p}/comm`) ?? '?').trim() }));
  const usage = ctx.cgroup ? await ctx.cgroup.stats().catch(() => undefined) : undefined;
  return { id: ctx.id, stage, pid, namespaces, ...(idMaps ? { idMaps } : {}), mountinfo, cgroup, interfaces, processes, ...(usage ? { usage } : {}) };
}

/** The snapshot as a person reads it. */
export function formatSnapshot(s: Snapshot): string {
  const lines = [`container ${s.id.slice(0, 12)}, paused before ${s.stage}${s.pid ? `, process ${s.pid}` : ''}`, '', 'namespaces (host / container):'];
  for (const n of s.namespaces) lines.push(`  ${n.type.padEnd(17)} ${n.host.padEnd(22)} ${n.container || '-'}${n.changed ? '   new' : ''}`);
  if (s.idMaps) lines.push('', 'user namespace maps (inside outside count):', ...s.idMaps.uid.map((l) => `  uid ${l}`), ...s.idMaps.gid.map((l) => `  gid ${l}`));
  lines.push('', `mounts it sees (${s.mountinfo.length}):`);
  for (const m of s.mountinfo.slice(0, 40)) {
    const f = m.split(' ');
    const dash = f.indexOf('-');
    lines.push(`  ${f[4]}  ${f[dash + 1]} ${f[dash + 2]}`);
  }
  if (s.mountinfo.length > 40) lines.push(`  ... ${s.mountinfo.length - 40} more`);
  lines.push('', 'cgroup files glassbox wrote:');
  if (s.cgroup.length === 0) lines.push('  (none yet)');
  for (const c of s.cgroup) lines.push(`  ${c.path} = ${c.written}${c.now !== undefined && c.now !== c.written ? ` (now ${c.now.split('\n')[0]})` : ''}`);
  lines.push('', `network interfaces: ${s.interfaces.join(', ') || '(none visible)'}`);
  lines.push(`processes: ${s.processes.map((p) => `${p.pid} ${p.comm}`).join(', ') || '(none)'}`);
  return lines.join('\n') + '\n';
}
