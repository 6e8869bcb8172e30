// bench/start: how long `glassbox run --rm busybox true` takes, side by side
// in one run with runc, crun and docker run on the same machine and image;
// and glassbox's own time per stage. Warm runs (page cache kept), as a
// teacher starts one container after another.
//
//   npm run bench:start            (N = 20)
//   npm run bench:start -- --runs 40
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadImages, saveImages } from '../src/image/interchange.js';
import { Store } from '../src/image/store.js';
import { detectCgroups } from '../src/runtime/cgroup/index.js';
import { fixtureImages, repoRoot } from '../test/lib/fixtures.js';
import { startRegistry } from '../test/lib/registry.js';
import { dockerEngine, ensureTools, median, runsArg, settle, timed, type Sample } from './lib.js';

/** An OCI bundle of the image for runc and crun, made by umoci, running `true`. */
function bundle(layout: string, dir: string): string {
  execFileSync('umoci', ['unpack', '--image', `${layout}:latest`, dir], { stdio: 'ignore' });
  const cfgPath = path.join(dir, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8')) as { process: { args: string[]; terminal: boolean } };
  cfg.process.args = ['true'];
  cfg.process.terminal = false;
  fs.writeFileSync(cfgPath, JSON.stringify(cfg));
  return dir;
}

/** Stage durations from a run's stage lines ("✓ rootfs   4 ms"). */
function stageTimes(stderr: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of stderr.matchAll(/✓ (\S+)\s+(\d+) ms/g)) out.set(m[1]!, Number(m[2]));
  return out;
}

async function main(): Promise<void> {
  ensureTools(['runc', 'crun', 'umoci']);
  const runs = runsArg() === 5 && !process.argv.includes('--runs') ? 20 : runsArg();
  const fx = await fixtureImages();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-bench-start-'));
  const bin = path.join(repoRoot(), 'dist/src/cli/bin.js');
  const root = path.join(work, 'store');
  try {
    const store = await Store.open(root);
    await loadImages(store, fx.layout('busybox'), { name: 'busybox' });
    const b = bundle(fx.layout('busybox'), path.join(work, 'bundle'));
    const hybrid = detectCgroups().mode === 'hybrid';
    // crun refuses a hybrid host's empty cgroup2 mount: hide it in a private mount namespace.
    const crun = (id: string) =>
      hybrid ? ['unshare', ['-m', 'sh', '-c', `umount /sys/fs/cgroup/unified; exec crun run -b ${b} ${id}`]] as const : ['crun', ['run', '-b', b, id]] as const;

    const reg = await startRegistry();
    fs.mkdirSync(path.join(work, 'docker'));
    const engine = await dockerEngine(reg.host, path.join(work, 'docker'));
    if (typeof engine !== 'string') {
      const archive = path.join(work, 'busybox.tar');
      await saveImages(store, ['busybox'], archive);
      execFileSync(engine.docker, ['load', '-i', archive], { env: engine.env, stdio: 'ignore' });
    }
    // Node's own start-up, for scale: the floor under glassbox's time.
    const results: Record<string, Sample[]> = { glassbox: [], runc: [], crun: [], 'node -e 0': [] };
    if (typeof engine !== 'string') results['docker run'] = [];
    const stages: Map<string, number>[] = [];
    console.log(`busybox true, ${runs} warm runs each, median shown; ${os.cpus().length} cores; cgroups ${detectCgroups().mode}`);
    for (let i = 0; i < runs; i++) {
      settle(false);
      // The command as a user runs it (glassbox on PATH, npx): its own first line starts node.
      results.glassbox!.push(timed(bin, ['--root', root, 'run', '--rm', '-q', 'busybox', 'true']));
      const s = spawnSync(bin, ['--root', root, 'run', '--rm', 'busybox', 'true'], { encoding: 'utf8' });
      stages.push(stageTimes(s.stderr));
      settle(false);
      results['node -e 0']!.push(timed(process.execPath, ['-e', '0']));
      settle(false);
      results.runc!.push(timed('runc', ['run', '-b', b, `gb-bench-runc-${i}`]));
      settle(false);
      const [cmd, args] = crun(`gb-bench-crun-${i}`);
      results.crun!.push(timed(cmd, [...args]));
      if (typeof engine !== 'string') {
        settle(false);
        results['docker run']!.push(timed(engine.docker, ['run', '--rm', '--network', 'none', 'busybox', 'true'], engine.env));
      }
    }
    if (typeof engine !== 'string') engine.stop();
    await reg.stop();

    console.log('\ntool          wall (ms)   peak RSS (MB)');
    const med: Record<string, number> = {};
    for (const [name, samples] of Object.entries(results)) {
      med[name] = median(samples.map((x) => x.seconds)) * 1000;
      console.log(`${name.padEnd(12)}  ${med[name]!.toFixed(0).padStart(9)}   ${(Math.max(...samples.map((x) => x.maxRssKb)) / 1024).toFixed(0).padStart(13)}`);
    }
    console.log('\nglassbox per stage (median ms):');
    const ids = [...(stages[0]?.keys() ?? [])];
    for (const id of ids) console.log(`  ${id.padEnd(11)} ${median(stages.map((m) => m.get(id) ?? 0)).toFixed(0).padStart(5)}`);
    // The engine: from the first stage that builds the container to exec, as runc's whole run does.
    const engineIds = ids.slice(ids.indexOf('create'), ids.indexOf('exec') + 1);
    const engineMs = median(stages.map((m) => engineIds.reduce((n, id) => n + (m.get(id) ?? 0), 0)));
    console.log(`\nglassbox engine (create..exec) = ${engineMs.toFixed(0)} ms; / runc whole run = ${(engineMs / med.runc!).toFixed(2)}   (target: <= 1.5)`);
    if (med['docker run'] !== undefined) console.log(`glassbox / docker run = ${(med.glassbox! / med['docker run']).toFixed(2)}   (target: <= 0.33)`);
    else console.log(`docker run: not measured: ${engine as string}`);
    console.log(`glassbox / runc = ${(med.glassbox! / med.runc!).toFixed(2)}, glassbox / crun = ${(med.glassbox! / med.crun!).toFixed(2)} (Node's start-up included)`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
