// What the benchmarks share: timing under GNU time, medians, a cold start
// for every run, and a Docker engine of Debian's when one can run.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const GNU_TIME = '/usr/bin/time';

export interface Sample {
  seconds: number;
  maxRssKb: number;
}

export function runsArg(): number {
  const i = process.argv.indexOf('--runs');
  return i > 0 ? Math.max(1, Number(process.argv[i + 1]) || 5) : 5;
}

export function ensureTools(tools: string[]): void {
  const missing = [...tools, GNU_TIME].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
  if (missing.length === 0) return;
  console.log(`installing what the benchmark needs (${missing.join(', ')})`);
  const pkgs = missing.map((m) => (m === GNU_TIME ? 'time' : m));
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/** Write back and drop the page cache, so each run starts cold and pays its own writes. */
export function settle(dropCaches = true): void {
  spawnSync('sync');
  if (!dropCaches) return;
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch {
    // not allowed here: runs start warm, alike for every tool
  }
}

/**
 * Run a command under GNU time; return wall seconds and max RSS. The wall
 * time is measured here, around GNU time, whose own %e counts in steps of
 * 10 ms: too coarse for a start-up of tens of ms. GNU time's own start
 * (about a millisecond) is in every tool's time alike.
 */
export function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Sample {
  const t0 = process.hrtime.bigint();
  const out = spawnSync(GNU_TIME, ['-f', '%M', cmd, ...args], { encoding: 'utf8', env: env ?? process.env, maxBuffer: 64 << 20 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (out.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${out.stderr}`);
  const kb = Number(out.stderr.trim().split('\n').pop());
  return { seconds, maxRssKb: kb };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Start Debian's dockerd on a private data root if no engine answers; undefined if none can run. */
export async function dockerEngine(registryHost: string, work: string): Promise<{ docker: string; env: NodeJS.ProcessEnv; stop: () => void } | string> {
  const client = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
  if (!fs.existsSync('/usr/sbin/dockerd') && !fs.existsSync('/usr/bin/dockerd')) return 'no dockerd (apt-get install docker.io to include docker pull)';
  const dockerd = fs.existsSync('/usr/sbin/dockerd') ? '/usr/sbin/dockerd' : '/usr/bin/dockerd';
  const sock = path.join(work, 'docker.sock');
  const env = { ...process.env, DOCKER_HOST: `unix://${sock}` };
  const log = fs.openSync(path.join(work, 'dockerd.log'), 'w');
  const child = spawn(
    dockerd,
    ['--data-root', path.join(work, 'docker'), '--exec-root', path.join(work, 'exec'), '--pidfile', path.join(work, 'dockerd.pid'), '-H', `unix://${sock}`, '--iptables=false', '--ip6tables=false', '--bridge=none', '--insecure-registry', registryHost, '--storage-driver', 'overlay2', '--max-concurrent-downloads', '3'],
    { stdio: ['ignore', log, log], detached: false },
  );
  for (let i = 0; i < 100; i++) {
    if (spawnSync(client, ['info'], { env, stdio: 'ignore' }).status === 0) {
      return { docker: client, env, stop: () => child.kill('SIGTERM') };
    }
    if (child.exitCode !== null) break;
    await sleep(200);
  }
  child.kill('SIGKILL');
  const tail = fs.readFileSync(path.join(work, 'dockerd.log'), 'utf8').trim().split('\n').slice(-1)[0] ?? '';
  return `dockerd did not start: ${tail.slice(0, 160)}`;
}

