// bench/pull: pull and unpack a ~100 MB image from a local registry, glassbox
// against `skopeo copy` + `umoci unpack` and `docker pull` (where a Docker
// engine can run), side by side in one run on this machine. Prints wall time
// (median of N runs, page cache dropped before each), peak memory (max RSS
// from wait4, via GNU time), and the ratios the issue sets as targets.
//
//   npm run bench              (N = 5)
//   npm run bench -- --runs 3
//   npm run bench -- --fs ext4 (each tool on a file system of its own)
//
// --fs ext4: by default every tool writes under os.tmpdir(). On a root file
// system without a journal (this VM's), ext4 skips, for each file it creates,
// every free inode of the group whose owner was deleted in the last minute,
// one buffer lookup each; the bench deletes each tool's 3300 files right after
// its run, so each tool paid for the cleanup before it (~0.5 CPU-s a run each,
// measured with perf: ext4's recently_deleted, alike for glassbox, umoci and
// docker's untar), and for whatever else the machine deleted. With --fs ext4
// each tool works on its own new ext4 image (mkfs.ext4's defaults, journal
// included, as a host's /var/lib/docker usually is), loop-mounted: the same
// file system for every tool, and nothing but its own work on it.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtureImages } from '../test/lib/fixtures.js';
import { startRegistry } from '../test/lib/registry.js';
import { dockerEngine, ensureTools, median, runsArg, settle, timed, type Sample } from './lib.js';

/** Where a tool works: a directory of the bench's, or a new ext4 mounted there. */
function workDir(work: string, name: string, ext4: boolean, mounts: string[]): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  if (!ext4) return dir;
  const image = path.join(work, `${name}.ext4`);
  fs.closeSync(fs.openSync(image, 'w'));
  fs.truncateSync(image, 8 * 2 ** 30);
  execFileSync('mkfs.ext4', ['-q', '-F', image]);
  execFileSync('mount', ['-o', 'loop', image, dir]);
  mounts.push(dir);
  return dir;
}

async function main(): Promise<void> {
  ensureTools(['skopeo', 'umoci', 'docker-registry']);
  const runs = runsArg();
  const fx = await fixtureImages();
  const reg = await startRegistry();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-bench-'));
  const fsArg = process.argv.indexOf('--fs');
  const ext4 = fsArg > 0 && process.argv[fsArg + 1] === 'ext4';
  const mounts: string[] = [];
  // The CLI built with this bench, wherever it was compiled to: measure this build, not dist/.
  const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/bin.js');
  // As a user runs it (glassbox on PATH): its own first line starts node, and
  // keeps NODE_EXTRA_CA_CERTS from Node's start-up (bench/start does the
  // same). A build that did not make it executable runs under node.
  let asUser = true;
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    asUser = false;
  }
  const glassbox = (args: string[]) => (asUser ? timed(bin, args) : timed(process.execPath, [bin, ...args]));
  const image = `${reg.host}/bench/big:latest`;
  try {
    await reg.push(fx.layout('big'), 'bench/big:latest');
    const size = Number(execFileSync('du', ['-sb', fx.layout('big')], { encoding: 'utf8' }).split('\t')[0]);
    console.log(`image: ${image}, ${(size / 1e6).toFixed(0)} MB as an OCI layout; ${runs} runs each, median shown; ${os.cpus().length} cores`);
    if (!asUser) console.log(`${bin} is not executable: glassbox runs as node ${path.basename(bin)}, not by its own first line`);

    const gbWork = workDir(work, 'glassbox', ext4, mounts);
    const suWork = workDir(work, 'skopeo-umoci', ext4, mounts);
    const dockerWork = workDir(work, 'docker', ext4, mounts);
    if (ext4) console.log('each tool on its own new ext4 (loop-mounted, mkfs.ext4 defaults)');
    const engine = await dockerEngine(reg.host, dockerWork);
    const results: Record<string, Sample[]> = { glassbox: [], 'skopeo+umoci': [] };
    if (typeof engine !== 'string') results['docker pull'] = [];

    for (let i = 0; i < runs; i++) {
      const root = path.join(gbWork, `gb-${i}`);
      settle();
      results.glassbox!.push(glassbox(['--root', root, 'pull', '-q', image]));
      fs.rmSync(root, { recursive: true, force: true });

      const oci = path.join(suWork, `oci-${i}`);
      const bundle = path.join(suWork, `bundle-${i}`);
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
    // Lazily: dockerd may still be on its way out, its data root busy.
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
