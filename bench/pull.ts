// bench/pull: pull and unpack a ~100 MB image from a local registry, glassbox
// against `skopeo copy` + `umoci unpack` and `docker pull` (where a Docker
// engine can run), side by side in one run on this machine. Prints wall time
// (median of N runs, page cache dropped before each), peak memory (max RSS
// from wait4, via GNU time), and the ratios the issue sets as targets.
//
//   npm run bench              (N = 5)
//   npm run bench -- --runs 3
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fixtureImages, repoRoot } from '../test/lib/fixtures.js';
import { startRegistry } from '../test/lib/registry.js';

const GNU_TIME = '/usr/bin/time';

interface Sample {
  seconds: number;
  maxRssKb: number;
}

function runsArg(): number {
  const i = process.argv.indexOf('--runs');
  return i > 0 ? Math.max(1, Number(process.argv[i + 1]) || 5) : 5;
}

function ensureTools(): void {
  const missing = ['skopeo', 'umoci', 'docker-registry', GNU_TIME].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
  if (missing.length === 0) return;
  console.log(`installing what the benchmark needs (${missing.join(', ')})`);
  const pkgs = missing.map((m) => (m === GNU_TIME ? 'time' : m));
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/** Write back and drop the page cache, so each run starts cold and pays its own writes. */
function settle(): void {
  spawnSync('sync');
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch {
    // not allowed here: runs start warm, alike for every tool
  }
}

/** Run a command under GNU time; return wall seconds and max RSS. */
function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Sample {
  const out = spawnSync(GNU_TIME, ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', env: env ?? process.env, maxBuffer: 64 << 20 });
  if (out.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${out.stderr}`);
  const last = out.stderr.trim().split('\n').pop()!;
  const [s, kb] = last.split(' ').map(Number) as [number, number];
  return { seconds: s, maxRssKb: kb };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Start Debian's dockerd on a private data root if no engine answers; undefined if none can run. */
async function dockerEngine(registryHost: string, work: string): Promise<{ docker: string; env: NodeJS.ProcessEnv; stop: () => void } | string> {
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

async function main(): Promise<void> {
  ensureTools();
  const runs = runsArg();
  const fx = await fixtureImages();
  const reg = await startRegistry();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-bench-'));
  const bin = path.join(repoRoot(), 'dist/src/cli/bin.js');
  const image = `${reg.host}/bench/big:latest`;
  try {
    await reg.push(fx.layout('big'), 'bench/big:latest');
    const size = Number(execFileSync('du', ['-sb', fx.layout('big')], { encoding: 'utf8' }).split('\t')[0]);
    console.log(`image: ${image}, ${(size / 1e6).toFixed(0)} MB as an OCI layout; ${runs} runs each, median shown; ${os.cpus().length} cores`);

    const engine = await dockerEngine(reg.host, work);
    const results: Record<string, Sample[]> = { glassbox: [], 'skopeo+umoci': [] };
    if (typeof engine !== 'string') results['docker pull'] = [];

    for (let i = 0; i < runs; i++) {
      const root = path.join(work, `gb-${i}`);
      settle();
      results.glassbox!.push(timed(process.execPath, [bin, '--root', root, 'pull', '-q', image]));
      fs.rmSync(root, { recursive: true, force: true });

      const oci = path.join(work, `oci-${i}`);
      const bundle = path.join(work, `bundle-${i}`);
      settle();
      const a = timed('skopeo', ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${image}`, `oci:${oci}:latest`]);
      const b = timed('umoci', ['unpack', '--image', `${oci}:latest`, bundle]);
      results['skopeo+umoci']!.push({ seconds: a.seconds + b.seconds, maxRssKb: Math.max(a.maxRssKb, b.maxRssKb) });
      fs.rmSync(oci, { recursive: true, force: true });
      fs.rmSync(bundle, { recursive: true, force: true });

      if (typeof engine !== 'string') {
        settle();
        results['docker pull']!.push(timed(engine.docker, ['pull', '-q', image], engine.env));
        spawnSync(engine.docker, ['rmi', '-f', image], { env: engine.env, stdio: 'ignore' });
      }
    }
    if (typeof engine !== 'string') engine.stop();

    console.log('');
    console.log('tool              wall (s)   peak RSS (MB)');
    const med: Record<string, number> = {};
    for (const [name, samples] of Object.entries(results)) {
      med[name] = median(samples.map((s) => s.seconds));
      const rss = Math.max(...samples.map((s) => s.maxRssKb)) / 1024;
      console.log(`${name.padEnd(16)}  ${med[name]!.toFixed(2).padStart(8)}   ${rss.toFixed(0).padStart(13)}`);
    }
    console.log('');
    const gb = med.glassbox!;
    console.log(`glassbox / (skopeo+umoci) = ${(gb / med['skopeo+umoci']!).toFixed(2)}   (target: < 1)`);
    if (med['docker pull'] !== undefined) console.log(`glassbox / docker pull     = ${(gb / med['docker pull']).toFixed(2)}   (target: <= 0.5)`);
    else console.log(`docker pull: not measured: ${engine as string}`);
    const gbRss = Math.max(...results.glassbox!.map((s) => s.maxRssKb)) / 1024;
    console.log(`glassbox peak RSS = ${gbRss.toFixed(0)} MB   (target: < 150 MB)`);
  } finally {
    await reg.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
