// The built-in demo: a static program that, as a container's PID 1, prints
// what the container sees; and the image glassbox makes from it with no registry.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { DEMO_LABEL, demoBinaryPath, ensureDemoImage } from '../src/image/demo.js';
import { exportImage } from '../src/image/images.js';
import { Store } from '../src/image/store.js';
import { tmpdir } from './lib/tmp.js';

const BIN = demoBinaryPath();
const SECTIONS = ['id', 'hostname', 'ns', 'mounts', 'cgroup', 'ps', 'net'];
const NS_LINE = /^ {2}(\w+) -> (\w+):\[(\d+)\]$/;
const isRoot = process.getuid?.() === 0;

function run(cmd: string, args: string[], input?: string): SpawnSyncReturns<string> {
  // stdin is a pipe or /dev/null, never a terminal, so the demo never waits at its prompt unasked.
  return spawnSync(cmd, args, { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: 30_000 });
}

function ok(t: Test, r: SpawnSyncReturns<string>, what: string): string {
  t.equal(r.status, 0, `${what} exits 0${r.stderr ? `: ${r.stderr}` : ''}`);
  return r.stdout;
}

/** The namespaces the demo printed, name to inode. */
function nsOf(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const hit = NS_LINE.exec(line);
    if (hit) m.set(hit[1]!, hit[3]!);
  }
  return m;
}

function hostNs(name: string): string {
  return /\[(\d+)\]/.exec(fs.readlinkSync(`/proc/self/ns/${name}`))![1]!;
}

/** The section of the demo's output that begins with [name]. */
function section(out: string, name: string): string {
  const start = out.indexOf(`[${name}] `);
  if (start < 0) return '';
  const end = out.indexOf('\n\n', start);
  return out.slice(start, end < 0 ? undefined : end);
}

t.test('the demo binary is built, and statically linked', async (t) => {
  t.ok(fs.existsSync(BIN), `${BIN} exists`);
  t.ok((fs.statSync(BIN).mode & 0o111) !== 0, 'it is executable');
  const file = run('file', ['-b', BIN]);
  t.match(ok(t, file, 'file'), /statically linked/, 'file calls it statically linked');
  const dyn = ok(t, run('readelf', ['-d', BIN]), 'readelf -d');
  t.notMatch(dyn, /NEEDED/, 'it needs no shared library');
  t.notMatch(ok(t, run('readelf', ['-l', BIN]), 'readelf -l'), /INTERP/, 'it names no program interpreter');
});

t.test('run directly, it prints every section and exits 0', async (t) => {
  const out = ok(t, run(BIN, []), 'glassbox-demo');
  for (const s of SECTIONS) t.match(out, new RegExp(`^\\[${s}\\] `, 'm'), `section [${s}]`);
  t.match(section(out, 'id'), new RegExp(`^ {2}pid +${'\\d+'}`, 'm'));
  t.match(section(out, 'hostname'), new RegExp(`^ {2}hostname +${os.hostname()}$`, 'm'), 'the hostname is the host one');
  t.match(section(out, 'mounts'), /^ {2}root +\S+ on \/ from \S+$/m, 'the root mount');
  t.match(section(out, 'mounts'), /^ {2}mounts +\d+ visible/m, 'the mount count');
  t.match(section(out, 'cgroup'), /^ {4}0::\//m, 'the lines of /proc/self/cgroup');
  t.match(section(out, 'ps'), new RegExp(`^ {2}${process.pid} +\\d+ +node$`, 'm'), 'it sees this test process');
  t.match(section(out, 'net'), /^ {2}lo +UP +127\.0\.0\.1 /m, 'the host loopback is up');
});

t.test('glassbox-demo ns prints the namespaces only, one "name -> type:[inode]" a line', async (t) => {
  const out = ok(t, run(BIN, ['ns']), 'glassbox-demo ns');
  const lines = out.split('\n').filter((l) => l !== '');
  t.match(lines[0], /^\[ns\] /, 'its header first');
  for (const l of lines.slice(1)) t.match(l, NS_LINE);
  for (const s of SECTIONS.filter((s) => s !== 'ns')) t.notMatch(out, `[${s}]`, `no [${s}] section`);
  const ns = nsOf(out);
  for (const n of ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'pid_for_children', 'time', 'user', 'uts']) {
    t.equal(ns.get(n), hostNs(n), `${n}: run on the host, the host's namespace`);
  }
});

t.test('an unknown argument is refused with usage', async (t) => {
  const r = run(BIN, ['nonsense']);
  t.equal(r.status, 2);
  t.match(r.stderr, /unknown argument: nonsense/);
  t.match(r.stderr, /usage: glassbox-demo/);
});

t.test('in fresh namespaces it is PID 1 and sees only itself', { skip: isRoot ? false : 'unshare of pid, mount, net namespaces needs root' }, async (t) => {
  const out = ok(t, run('unshare', ['--pid', '--fork', '--mount-proc', '--uts', '--ipc', '--net', BIN]), 'unshare ... glassbox-demo');
  t.match(section(out, 'id'), /^ {2}pid +1 +\(the first process of its PID namespace/m, 'pid 1');
  t.match(section(out, 'id'), /^ {2}ppid +0 /m, 'its parent is outside');
  const ns = nsOf(out);
  for (const n of ['ipc', 'mnt', 'net', 'pid', 'uts']) t.not(ns.get(n), hostNs(n), `${n}: a new namespace`);
  for (const n of ['cgroup', 'user', 'time']) t.equal(ns.get(n), hostNs(n), `${n}: still the host's`);
  const ps = section(out, 'ps');
  t.match(ps, /^ {2}1 +0 +glassbox-demo +<- this process$/m, 'itself, as PID 1');
  t.match(ps, /^ {2}1 process visible$/m, 'and nothing else');
  t.match(section(out, 'net'), /^ {2}lo +DOWN /m, 'a new network namespace has only lo, down');
  t.match(section(out, 'net'), /^ {2}1 interface in this network namespace$/m);
});

t.test('with -i it answers commands on a pipe, and exit or EOF ends it', async (t) => {
  const out = ok(t, run(BIN, ['-i', 'hostname'], 'ps\nnope\nexit\nns\n'), 'glassbox-demo -i');
  t.match(out, /^\[hostname\] /m, 'the sections asked for first');
  t.match(out, /demo> ps\n\[ps\] /, 'ps answers with the process section');
  t.match(out, /demo> nope\nunknown command: nope \(try help\)/);
  t.match(out, /demo> exit\n$/, 'exit leaves at once');
  t.notMatch(out, '[ns]', 'nothing after exit is read');
  const eof = ok(t, run(BIN, ['-i', 'id'], 'help\n'), 'glassbox-demo -i at EOF');
  for (const c of [...SECTIONS, 'help', 'exit']) t.match(eof, new RegExp(`^ {2}${c} `, 'm'), `help lists ${c}`);
  t.match(eof, /demo> \n$/, 'EOF ends the prompt');
});

t.test('the demo image is built from the binary, once, reproducibly', async (t) => {
  const store = await Store.open(tmpdir(t, 'store'));
  const first = await ensureDemoImage(store);
  t.equal(first.name, 'docker.io/glassbox/demo:latest');
  const imagesJson = path.join(store.root, 'images.json');
  const before = fs.statSync(imagesJson).mtimeMs;

  const again = await ensureDemoImage(store);
  t.equal(again.digest, first.digest, 'the same image');
  t.equal(again.tagged, first.tagged, 'not tagged again: nothing was rebuilt');
  t.equal(fs.statSync(imagesJson).mtimeMs, before, 'images.json untouched');
  t.same(fs.readdirSync(path.join(store.root, 'tmp')), [], 'no temp layout left');

  const other = await ensureDemoImage(await Store.open(tmpdir(t, 'store2')));
  t.equal(other.digest, first.digest, 'another store makes the same digest');

  const manifest = store.manifest(first.digest);
  t.equal(manifest.layers.length, 1, 'one layer');
  t.equal(manifest.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  const config = store.config(manifest);
  t.same(config.config?.Entrypoint, ['/glassbox-demo']);
  t.equal(config.config?.WorkingDir, '/');
  t.match(config.config?.Env, [/^PATH=/]);
  t.equal(config.config?.Labels?.[DEMO_LABEL], createHash('sha256').update(fs.readFileSync(BIN)).digest('hex'), 'labelled with the binary digest');
  t.equal(config.history?.[0]?.created_by, 'created by glassbox from native/demo/demo.c');
  t.equal(config.os, 'linux');
});

t.test('the exported demo rootfs runs under chroot', { skip: isRoot ? false : 'chroot needs root' }, async (t) => {
  const store = await Store.open(tmpdir(t, 'store'));
  await ensureDemoImage(store);
  const rootfs = path.join(tmpdir(t, 'export'), 'rootfs');
  await exportImage(store, 'glassbox/demo', rootfs);
  t.same(fs.readdirSync(rootfs).sort(), ['dev', 'etc', 'glassbox-demo', 'proc', 'sys', 'tmp']);
  t.equal(fs.statSync(path.join(rootfs, 'glassbox-demo')).mode & 0o7777, 0o755);
  t.equal(fs.statSync(path.join(rootfs, 'tmp')).mode & 0o7777, 0o1777, '/tmp is sticky and world-writable');
  t.match(fs.readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8'), /^root:x:0:0:/);
  t.match(fs.readFileSync(path.join(rootfs, 'etc/group'), 'utf8'), /^root:x:0:/);
  t.notOk(fs.existsSync(path.join(rootfs, 'etc/hostname')), 'no /etc/hostname: the runtime sets the name');

  const out = ok(t, run('chroot', [rootfs, '/glassbox-demo', 'hostname']), 'chroot ROOTFS /glassbox-demo hostname');
  t.match(out, new RegExp(`^\\[hostname\\] [^\\n]*\\n {2}hostname +${os.hostname()}\\n`), 'it prints the hostname');

  const all = ok(t, run('chroot', [rootfs, '/glassbox-demo']), 'the whole demo without /proc');
  t.match(section(all, 'ns'), /no \/proc mounted/, 'says /proc is missing');
  t.match(section(all, 'ps'), /no \/proc mounted/);
  t.match(section(all, 'id'), /^ {2}uid +0 /m, 'and still tells what syscalls can');
});
