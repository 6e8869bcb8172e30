// --userns: the container's user IDs are host IDs shifted into a range of
// their own, so its root is nobody on the host. The maps are what
// /proc/PID/uid_map and gid_map take, and what podman's --uidmap says:
// CONTAINER_ID:HOST_ID:COUNT.
import * as fs from 'node:fs';
import { GlassboxError } from '../util/errors.js';

export interface IdMap {
  /** First ID inside the container. */
  inside: number;
  /** The host ID it is. */
  outside: number;
  count: number;
}

export interface UsernsMaps {
  uid: IdMap[];
  gid: IdMap[];
}

/** docker's userns-remap and podman hand out 65536 IDs a container; glassbox's range starts at 100000 unless told. */
export const DEFAULT_MAP: IdMap = { inside: 0, outside: 100000, count: 65536 };

/** The kernel takes at most this many lines in a uid_map (Linux 4.15+). */
const MAX_LINES = 340;
const MAX_ID = 4294967295;

function bad(flag: string, why: string): GlassboxError {
  return new GlassboxError(`${flag}: ${why}`, { op: 'run', code: 'EINVAL' });
}

/** "0:100000:65536" -> one map line; anything else is one clear error. */
export function parseIdMap(flag: string, text: string): IdMap {
  const m = /^(\d+):(\d+):(\d+)$/.exec(text.trim());
  if (!m) throw bad(flag, `"${text}" is not CONTAINER_ID:HOST_ID:COUNT (like 0:100000:65536)`);
  const [inside, outside, count] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (count < 1) throw bad(flag, `"${text}" maps no IDs (COUNT must be at least 1)`);
  if (inside + count - 1 >= MAX_ID || outside + count - 1 >= MAX_ID) throw bad(flag, `"${text}" runs past the largest ID, ${MAX_ID - 1}`);
  return { inside, outside, count };
}

/** The lines must not overlap on either side, and must map the container's root, which builds the root filesystem. */
export function checkMaps(flag: string, maps: IdMap[]): IdMap[] {
  if (maps.length > MAX_LINES) throw bad(flag, `${maps.length} ranges, the kernel takes at most ${MAX_LINES}`);
  const overlap = (a0: number, a1: number, b0: number, b1: number) => a0 < b1 && b0 < a1;
  for (let i = 0; i < maps.length; i++) {
    for (let j = i + 1; j < maps.length; j++) {
      const a = maps[i]!;
      const b = maps[j]!;
      if (overlap(a.inside, a.inside + a.count, b.inside, b.inside + b.count)) throw bad(flag, `container IDs ${a.inside}:${a.count} and ${b.inside}:${b.count} overlap`);
      if (overlap(a.outside, a.outside + a.count, b.outside, b.outside + b.count)) throw bad(flag, `host IDs ${a.outside}:${a.count} and ${b.outside}:${b.count} overlap`);
    }
  }
  if (hostIdOf(maps, 0) === undefined) throw bad(flag, 'no range maps ID 0: the container needs a root to build its filesystem');
  return maps;
}

/** The host ID that a container ID is, or undefined if the maps leave it out. */
export function hostIdOf(maps: IdMap[], id: number): number | undefined {
  for (const m of maps) if (id >= m.inside && id < m.inside + m.count) return m.outside + (id - m.inside);
  return undefined;
}

/** The maps as /proc/PID/uid_map has them, a line per range: "0 100000 65536". */
export function mapLines(maps: IdMap[]): string[] {
  return maps.map((m) => `${m.inside} ${m.outside} ${m.count}`);
}

/** What /proc/PID/uid_map is written with: every line in one write(2), as the kernel wants. */
export function mapText(maps: IdMap[]): string {
  return mapLines(maps).map((l) => `${l}\n`).join('');
}

/** Whether the process has a user namespace of its own (--userns), not glassbox's: exec and shell join it first. */
export function ownUserNamespace(pid: number): boolean {
  return fs.readlinkSync(`/proc/${pid}/ns/user`) !== fs.readlinkSync('/proc/self/ns/user');
}

/** The flags' maps: --uidmap and --gidmap given, else the default; --userns alone gives the default to both. */
export function usernsFromFlags(o: { userns?: boolean; uidmap?: string[]; gidmap?: string[] }): UsernsMaps | undefined {
  const uid = (o.uidmap ?? []).map((t) => parseIdMap('--uidmap', t));
  const gid = (o.gidmap ?? []).map((t) => parseIdMap('--gidmap', t));
  if (!o.userns && !uid.length && !gid.length) return undefined;
  // One side given: the other maps the same way, as podman does.
  return {
    uid: checkMaps('--uidmap', uid.length ? uid : gid.length ? gid : [DEFAULT_MAP]),
    gid: checkMaps('--gidmap', gid.length ? gid : uid.length ? uid : [DEFAULT_MAP]),
  };
}

/** As docker: the host's network namespace belongs to the host's user namespace, where the container's root is nobody. */
export function refuseHostNetwork(userns: UsernsMaps | undefined, network: string | undefined, op: string): void {
  if (userns && network === 'host') throw new GlassboxError('--userns cannot be used with --network host: the host network belongs to the host user namespace', { op, code: 'EINVAL' });
}
