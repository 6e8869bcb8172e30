// src/image/unpack.ts: a layer tar is applied by the OCI layer rules, and
// whatever the tar says, nothing outside the layer root is written, linked,
// changed or removed.
//
// Every test gets a fresh T laid out as
//   T/outside/secret       a sentinel file with known content
//   T/outside/dir/inner    a sentinel directory with one file
//   T/root/                the layer root
// and a snapshot of T minus T/root (names, types, modes, owners, sizes, link
// counts, mtimes, ctimes, contents, symlink targets, xattrs) taken before the
// extraction must equal the one taken after it.

import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t, { type Test } from 'tap';
import tar from 'tar-stream';
import { addon } from '../src/native/addon.js';
import { GlassboxError } from '../src/util/errors.js';
import { layerExtractor, cleanEntryName, type UnpackMode, type UnpackResult } from '../src/image/unpack.js';

const SECRET = 'TOP SECRET: do not touch\n';
const INNER = 'inner sentinel\n';
const FIXED = new Date(1_600_000_000_000);
const uniq = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
const fx = addon();

// ---------------------------------------------------------------- tar building

interface E {
  name: string;
  type?: tar.Header['type'];
  body?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}

const file = (name: string, body: string | Buffer = '', extra: Partial<E> = {}): E => ({ name, type: 'file', body, mode: 0o644, ...extra });
const dir = (name: string, extra: Partial<E> = {}): E => ({ name, type: 'directory', mode: 0o755, ...extra });
const sym = (name: string, target: string, extra: Partial<E> = {}): E => ({ name, type: 'symlink', linkname: target, mode: 0o777, ...extra });
const hard = (name: string, target: string): E => ({ name, type: 'link', linkname: target, mode: 0o644 });

async function makeTar(entries: E[]): Promise<Buffer> {
  const p = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of p as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  })();
  for (const e of entries) {
    const { body, ...h } = e;
    const header = { mtime: FIXED, ...h } as tar.Header;
    if (body !== undefined) p.entry(header, body);
    else p.entry(header);
  }
  p.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** Replace an ASCII placeholder (same length) in a built tar with raw bytes. */
function patchBytes(buf: Buffer, placeholder: string, bytes: Buffer): void {
  const ph = Buffer.from(placeholder, 'latin1');
  if (ph.length !== bytes.length) throw new Error('placeholder length mismatch');
  const at = buf.indexOf(ph);
  if (at < 0 || buf.indexOf(ph, at + 1) >= 0) throw new Error(`placeholder ${placeholder} not found exactly once`);
  bytes.copy(buf, at);
}

// ---------------------------------------------------------------- extraction

interface Outcome {
  ok: boolean;
  res?: UnpackResult;
  err?: Error;
  ms: number;
}

async function extract(root: string, mode: UnpackMode, tarBuf: Buffer): Promise<Outcome> {
  const start = Date.now();
  const ex = layerExtractor(root, mode);
  const flow = pipeline(Readable.from([tarBuf]), ex.writable as unknown as Writable);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((res) => {
    timer = setTimeout(() => res('timeout'), 8000);
  });
  const settled = await Promise.race([Promise.allSettled([flow, ex.done]), timeout]);
  clearTimeout(timer);
  const ms = Date.now() - start;
  if (settled === 'timeout') return { ok: false, err: new Error('extraction hung (8 s)'), ms };
  const [, d] = settled;
  if (d.status === 'fulfilled') return { ok: true, res: d.value, ms };
  return { ok: false, err: d.reason as Error, ms };
}

async function layer(root: string, mode: UnpackMode, entries: E[]): Promise<Outcome> {
  return extract(root, mode, await makeTar(entries));
}

// ---------------------------------------------------------------- the box

interface Box {
  T: string;
  /** T without its leading slash: where an absolute host path lands inside the root. */
  Trel: string;
  root: string;
  outside: string;
  secret: string;
  odir: string;
  before: Record<string, string>;
}

function xattrsOf(p: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of fx.llistxattr(p).sort()) {
    const v = fx.lgetxattr(p, n);
    out[n] = v ? v.toString('hex') : '<none>';
  }
  return out;
}

function describeNode(p: string): string {
  const st = fs.lstatSync(p, { bigint: true });
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'chr' : st.isBlockDevice() ? 'blk' : st.isFIFO() ? 'fifo' : 'other';
  const d: Record<string, unknown> = {
    type,
    mode: (Number(st.mode) & 0o7777).toString(8),
    uid: Number(st.uid),
    gid: Number(st.gid),
    nlink: Number(st.nlink),
    ino: String(st.ino),
    mtimeNs: String(st.mtimeNs),
    ctimeNs: String(st.ctimeNs),
    xattrs: xattrsOf(p),
  };
  if (st.isFile()) d.content = fs.readFileSync(p, 'utf8');
  if (st.isSymbolicLink()) d.target = fs.readlinkSync(p);
  if (st.isDirectory()) d.names = fs.readdirSync(p).sort();
  return JSON.stringify(d);
}

/** T minus T/root. */
function snapshot(T: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string): void => {
    out[p] = describeNode(p);
    const st = fs.lstatSync(p);
    if (!st.isDirectory()) return;
    for (const n of fs.readdirSync(p).sort()) {
      const c = path.join(p, n);
      if (c === path.join(T, 'root')) continue;
      walk(c);
    }
  };
  walk(T);
  return out;
}

function openFdsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const l = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (l === dir || l.startsWith(dir + '/')) out.push(l);
    } catch {
      // the fd of the readdir itself, gone
    }
  }
  return out;
}

function setup(tt: Test): Box {
  const T = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'gbx-unpack-')));
  tt.teardown(() => fs.rmSync(T, { recursive: true, force: true }));
  const outside = path.join(T, 'outside');
  const odir = path.join(outside, 'dir');
  const secret = path.join(outside, 'secret');
  const root = path.join(T, 'root');
  fs.mkdirSync(odir, { recursive: true });
  fs.writeFileSync(secret, SECRET, { mode: 0o600 });
  fs.writeFileSync(path.join(odir, 'inner'), INNER, { mode: 0o644 });
  fs.utimesSync(odir, 1_000_000, 1_000_000);
  fs.utimesSync(outside, 1_000_000, 1_000_000);
  fs.mkdirSync(root, { mode: 0o755 });
  return { T, Trel: T.slice(1), root, outside, secret, odir, before: snapshot(T) };
}

function assertOutsideUntouched(tt: Test, box: Box): void {
  tt.same(snapshot(box.T), box.before, 'nothing outside the root was written, linked, changed or removed');
  tt.equal(lst(box.secret) ? fs.readFileSync(box.secret, 'utf8') : '<gone>', SECRET, 'the sentinel file keeps its content');
  tt.equal(lst(box.secret)?.nlink, 1, 'the sentinel file has no new hard link');
  tt.same(lst(box.odir) ? xattrsOf(box.odir) : '<gone>', {}, 'the outside dir has no xattr');
  tt.same(openFdsUnder(box.T), [], 'no file under T left open');
}

function assertRefused(tt: Test, r: Outcome, entryName: string, why: RegExp): void {
  tt.notOk(r.ok, `the layer is refused (entry "${entryName}")`);
  tt.ok(r.err instanceof GlassboxError, `the error is a GlassboxError: ${r.err?.message}`);
  tt.match(r.err?.message ?? '', `"${entryName}"`, 'the error names the entry');
  tt.match(r.err?.message ?? '', why, 'the error says why');
  tt.ok(!(r.err?.message ?? '').includes('\n'), 'the error is one line');
}

function assertOk(tt: Test, r: Outcome): void {
  tt.ok(r.ok, `the layer applies${r.err ? `, but: ${r.err.message}` : ''}`);
}

function lst(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

function devOf(rdev: number): [number, number] {
  const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
  return [major, minor];
}

function rootListing(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
      const c = rel ? `${rel}/${n}` : n;
      out.push(c);
      const st = fs.lstatSync(path.join(root, c));
      if (st.isDirectory()) walk(c);
    }
  };
  walk('');
  return out;
}

// ================================================================ names

t.test('cleanEntryName cleans like filepath.Clean and refuses relative climbs', async (tt) => {
  tt.same(cleanEntryName('./a//b/./c/'), ['a', 'b', 'c']);
  tt.same(cleanEntryName('/abs/file'), ['abs', 'file']);
  tt.same(cleanEntryName('/../../etc/x'), ['etc', 'x']);
  tt.same(cleanEntryName('a/b/../c'), ['a', 'c']);
  tt.same(cleanEntryName('./'), []);
  tt.throws(() => cleanEntryName('../escape'));
  tt.throws(() => cleanEntryName('a/../../escape'));
});

t.test('a relative name ../escape that climbs out of the root is refused', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [file('ok', 'fine'), file('../escape', 'pwned')]);
  assertRefused(tt, r, '../escape', /climbs out/);
  tt.notOk(lst(path.join(box.T, 'escape')), 'T/escape was not written');
  tt.notOk(lst(path.join(box.root, 'escape')), 'no half entry root/escape');
  tt.equal(fs.readFileSync(path.join(box.root, 'ok'), 'utf8'), 'fine', 'the entry before it was applied');
  assertOutsideUntouched(tt, box);
});

t.test('a relative name a/../../escape that climbs out of the root is refused', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [dir('a/'), file('a/../../escape', 'pwned')]);
  assertRefused(tt, r, 'a/../../escape', /climbs out/);
  tt.notOk(lst(path.join(box.T, 'escape')), 'T/escape was not written');
  tt.notOk(lst(path.join(box.root, 'escape')), 'no half entry root/escape');
  assertOutsideUntouched(tt, box);
});

t.test('an absolute name /abs/file lands at root/abs/file', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [file('/abs/file', 'abs')]);
  assertOk(tt, r);
  tt.equal(fs.readFileSync(path.join(box.root, 'abs/file'), 'utf8'), 'abs');
  tt.same(rootListing(box.root), ['abs', 'abs/file']);
  assertOutsideUntouched(tt, box);
});

t.test('an absolute name with .. (/../../etc/x) clamps at the root: lands at root/etc/x', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [file('/../../etc/x', 'clamped')]);
  assertOk(tt, r);
  tt.equal(fs.readFileSync(path.join(box.root, 'etc/x'), 'utf8'), 'clamped');
  tt.same(rootListing(box.root), ['etc', 'etc/x']);
  assertOutsideUntouched(tt, box);
});

// ================================================================ symlinks in parents

t.test('a symlink evil -> / is followed as if the root were /: evil/secret and evil/NEW land in the root', async (tt) => {
  const box = setup(tt);
  const name = `newfile-${uniq}`;
  const r = await layer(box.root, 'overlay', [sym('evil', '/'), file('evil/secret', 'overwritten?'), file(`evil/${name}`, 'new')]);
  assertOk(tt, r);
  tt.equal(fs.readFileSync(path.join(box.root, 'secret'), 'utf8'), 'overwritten?', 'evil/secret landed at root/secret');
  tt.equal(fs.readFileSync(path.join(box.root, name), 'utf8'), 'new', `evil/${name} landed at root/${name}`);
  tt.notOk(lst(`/${name}`), `the host's /${name} was not created`);
  tt.equal(fs.readlinkSync(path.join(box.root, 'evil')), '/', 'the symlink itself is kept');
  assertOutsideUntouched(tt, box);
});

t.test('a symlink evil -> ../../.. is clamped at the root: evil/NEW lands in the root', async (tt) => {
  const box = setup(tt);
  const name = `newfile-${uniq}`;
  const r = await layer(box.root, 'flatten', [sym('evil', '../../..'), file(`evil/${name}`, 'new'), file('evil/outside/secret', 'x')]);
  assertOk(tt, r);
  tt.equal(fs.readFileSync(path.join(box.root, name), 'utf8'), 'new', `landed at root/${name}`);
  tt.equal(fs.readFileSync(path.join(box.root, 'outside/secret'), 'utf8'), 'x', 'evil/outside/secret landed at root/outside/secret');
  tt.notOk(lst(`/${name}`), `the host's /${name} was not created`);
  tt.notOk(lst(path.join(path.dirname(box.T), name)), 'nothing written beside T');
  assertOutsideUntouched(tt, box);
});

t.test('a symlink to the absolute host path of T/outside is resolved inside the root: evil/secret lands at root/T/outside/secret', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [sym('evil', box.outside), file('evil/secret', 'inside'), file('evil/dir/inner', 'inside too')]);
  assertOk(tt, r);
  tt.equal(fs.readFileSync(path.join(box.root, box.Trel, 'outside/secret'), 'utf8'), 'inside');
  tt.equal(fs.readFileSync(path.join(box.root, box.Trel, 'outside/dir/inner'), 'utf8'), 'inside too');
  assertOutsideUntouched(tt, box);
});

t.test('a symlink chain a -> b, b -> ../.. is contained: a/x lands at root/x', async (tt) => {
  const box = setup(tt);
  const name = `x-${uniq}`;
  const r = await layer(box.root, 'overlay', [sym('a', 'b'), sym('b', '../..'), file(`a/${name}`, 'chained')]);
  assertOk(tt, r);
  tt.equal(fs.readFileSync(path.join(box.root, name), 'utf8'), 'chained');
  tt.notOk(lst(path.join(path.dirname(box.T), name)), 'nothing written at root/../..');
  tt.notOk(lst(path.join(box.T, name)), 'nothing written at root/..');
  assertOutsideUntouched(tt, box);
});

t.test('a symlink loop l1 -> l2, l2 -> l1 is refused (too many levels), without hanging', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [sym('l1', 'l2'), sym('l2', 'l1'), file('l1/x', 'loop')]);
  assertRefused(tt, r, 'l1/x', /too many levels of symbolic links/);
  tt.ok(r.ms < 5000, `settled in ${r.ms} ms`);
  tt.same(rootListing(box.root), ['l1', 'l2'], 'no half entry');
  assertOutsideUntouched(tt, box);
});

t.test('merged /usr: lib -> usr/lib, then lib/libfoo.so lands at root/usr/lib/libfoo.so (as docker does)', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [dir('usr/'), dir('usr/lib/'), sym('lib', 'usr/lib'), file('lib/libfoo.so', 'ELF')]);
  assertOk(tt, r);
  tt.equal(fs.readFileSync(path.join(box.root, 'usr/lib/libfoo.so'), 'utf8'), 'ELF');
  tt.ok(fs.lstatSync(path.join(box.root, 'lib')).isSymbolicLink(), 'lib stays a symlink');
  tt.same(rootListing(box.root), ['lib', 'usr', 'usr/lib', 'usr/lib/libfoo.so']);
  assertOutsideUntouched(tt, box);
});

// ================================================================ the last component is never followed

t.test('a file entry over an existing symlink to an outside file replaces the symlink; the outside file is untouched', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [sym('out', box.secret), file('out', 'replaced', { mode: 0o666 })]);
  assertOk(tt, r);
  const st = fs.lstatSync(path.join(box.root, 'out'));
  tt.ok(st.isFile(), 'root/out is now a regular file');
  tt.equal(fs.readFileSync(path.join(box.root, 'out'), 'utf8'), 'replaced');
  assertOutsideUntouched(tt, box);
});

t.test('a file entry over an existing relative symlink that climbs out replaces the symlink', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [sym('out', '../outside/secret'), file('out', 'replaced', { mode: 0o600 })]);
  assertOk(tt, r);
  tt.ok(fs.lstatSync(path.join(box.root, 'out')).isFile(), 'root/out is now a regular file');
  assertOutsideUntouched(tt, box);
});

t.test('a directory entry over an existing symlink to an outside dir replaces the symlink; the outside dir is untouched', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [sym('d', box.odir), dir('d/', { mode: 0o700 }), file('d/new', 'new')]);
  assertOk(tt, r);
  const st = fs.lstatSync(path.join(box.root, 'd'));
  tt.ok(st.isDirectory(), 'root/d is now a real directory');
  tt.equal(st.mode & 0o7777, 0o700);
  tt.equal(fs.readFileSync(path.join(box.root, 'd/new'), 'utf8'), 'new', 'd/new landed in root/d');
  tt.notOk(lst(path.join(box.odir, 'new')), 'nothing written in the outside dir');
  assertOutsideUntouched(tt, box);
});

// ================================================================ hard links

t.test('a hardlink to ../../outside/secret (relative, climbing) is refused', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [hard('stolen', '../../outside/secret')]);
  assertRefused(tt, r, 'stolen', /climbs out/);
  tt.notOk(lst(path.join(box.root, 'stolen')), 'no half entry');
  assertOutsideUntouched(tt, box);
});

t.test('a hardlink to the absolute host path of the sentinel resolves inside the root, so is refused as not in the layer', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [hard('stolen', box.secret)]);
  assertRefused(tt, r, 'stolen', /in the layer/);
  tt.notOk(lst(path.join(box.root, 'stolen')), 'no half entry');
  assertOutsideUntouched(tt, box);
});

t.test('a hardlink to /etc/passwd resolves inside the root, so is refused as not in the layer; the host file gains no link', async (tt) => {
  const box = setup(tt);
  const before = fs.lstatSync('/etc/passwd');
  const r = await layer(box.root, 'flatten', [hard('passwd', '/etc/passwd')]);
  assertRefused(tt, r, 'passwd', /in the layer/);
  const after = fs.lstatSync('/etc/passwd');
  tt.equal(after.nlink, before.nlink, "/etc/passwd's link count did not change");
  tt.equal(after.ctimeMs, before.ctimeMs, '/etc/passwd was not changed');
  tt.notOk(lst(path.join(box.root, 'passwd')), 'no half entry');
  assertOutsideUntouched(tt, box);
});

t.test('a hardlink whose target goes through a symlink evil -> / links the in-layer file', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [file('etc-file', 'in layer'), sym('evil', '/'), hard('ln', 'evil/etc-file'), hard('ln2', 'evil/evil/etc-file')]);
  assertOk(tt, r);
  const a = fs.lstatSync(path.join(box.root, 'etc-file'));
  const b = fs.lstatSync(path.join(box.root, 'ln'));
  const c = fs.lstatSync(path.join(box.root, 'ln2'));
  tt.equal(b.ino, a.ino, 'ln shares the in-layer inode');
  tt.equal(c.ino, a.ino, 'ln2 shares the in-layer inode');
  tt.equal(a.nlink, 3);
  assertOutsideUntouched(tt, box);
});

t.test('a hardlink to a symlink in the layer that points outside links the symlink, not its target', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [sym('s', box.secret), hard('h', 's')]);
  assertOk(tt, r);
  const st = fs.lstatSync(path.join(box.root, 'h'));
  tt.ok(st.isSymbolicLink(), 'h is the symlink');
  tt.equal(st.ino, fs.lstatSync(path.join(box.root, 's')).ino);
  assertOutsideUntouched(tt, box);
});

t.test('a hardlink inside the layer shares the inode (relative and absolute target)', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [dir('d/'), file('d/a', 'data', { mode: 0o640 }), hard('b', 'd/a'), hard('c', '/d/a')]);
  assertOk(tt, r);
  const a = fs.lstatSync(path.join(box.root, 'd/a'));
  tt.equal(fs.lstatSync(path.join(box.root, 'b')).ino, a.ino);
  tt.equal(fs.lstatSync(path.join(box.root, 'c')).ino, a.ino);
  tt.equal(a.nlink, 3);
  tt.equal(r.res?.stats.hardlinks, 2);
  assertOutsideUntouched(tt, box);
});

// ================================================================ whiteouts, hostile

t.test('a whiteout ../.wh.secret is refused, in both modes', async (tt) => {
  for (const mode of ['flatten', 'overlay'] as const) {
    const box = setup(tt);
    const r = await layer(box.root, mode, [file('keep', 'k'), { name: '../.wh.secret', type: 'file', body: '' }]);
    assertRefused(tt, r, '../.wh.secret', /climbs out/);
    tt.same(rootListing(box.root), ['keep'], `${mode}: nothing else in the root`);
    assertOutsideUntouched(tt, box);
  }
});

t.test('flatten: a whiteout evil/.wh.secret with evil -> T/outside removes the in-root decoy, nothing outside', async (tt) => {
  const box = setup(tt);
  const decoy = path.join(box.root, box.Trel, 'outside/secret');
  fs.mkdirSync(path.dirname(decoy), { recursive: true });
  fs.writeFileSync(decoy, 'decoy');
  const r = await layer(box.root, 'flatten', [sym('evil', box.outside), { name: 'evil/.wh.secret', type: 'file', body: '' }]);
  assertOk(tt, r);
  tt.notOk(lst(decoy), 'the in-root root/T/outside/secret was removed');
  tt.ok(lst(path.dirname(decoy))?.isDirectory(), 'its directory stays');
  assertOutsideUntouched(tt, box);
});

t.test('flatten: a whiteout evil/.wh.dir with evil -> T/outside and no in-root counterpart removes nothing outside', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [sym('evil', box.outside), { name: 'evil/.wh.dir', type: 'file', body: '' }]);
  // Either contained (a no-op inside the root) or refused naming the entry.
  if (!r.ok) assertRefused(tt, r, 'evil/.wh.dir', /./);
  tt.ok(lst(path.join(box.root, 'evil'))?.isSymbolicLink(), 'the symlink is in the root');
  assertOutsideUntouched(tt, box);
});

t.test('overlay: a whiteout evil/.wh.secret with evil -> T/outside makes the 0:0 char device inside the root only', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [sym('evil', box.outside), { name: 'evil/.wh.secret', type: 'file', body: '' }]);
  assertOk(tt, r);
  const st = lst(path.join(box.root, box.Trel, 'outside/secret'));
  tt.ok(st?.isCharacterDevice(), 'root/T/outside/secret is a char device');
  tt.equal(st?.rdev, 0, 'numbered 0:0');
  tt.ok(fs.lstatSync(box.secret).isFile(), 'the outside secret is still a regular file');
  assertOutsideUntouched(tt, box);
});

t.test('overlay: an opaque marker through a symlinked dir sets trusted.overlay.opaque inside the root only', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [sym('evil', box.odir), { name: 'evil/.wh..wh..opq', type: 'file', body: '' }]);
  assertOk(tt, r);
  const inRoot = path.join(box.root, box.Trel, 'outside/dir');
  tt.same(fx.lgetxattr(inRoot, 'trusted.overlay.opaque'), Buffer.from('y'), 'set on root/T/outside/dir');
  tt.equal(fx.lgetxattr(box.odir, 'trusted.overlay.opaque'), null, 'absent on the outside dir');
  tt.equal(fx.lgetxattr(path.join(box.root, 'evil'), 'trusted.overlay.opaque'), null, 'absent on the symlink');
  assertOutsideUntouched(tt, box);
});

t.test('PAX xattrs trusted.overlay.opaque / trusted.overlay.redirect in the tar are ignored; other xattrs are set', async (tt) => {
  const box = setup(tt);
  const pax = {
    'SCHILY.xattr.trusted.overlay.opaque': 'y',
    'SCHILY.xattr.trusted.overlay.redirect': '/etc',
    'SCHILY.xattr.user.kept': 'yes',
  };
  const r = await layer(box.root, 'overlay', [dir('d/', { pax }), file('f', 'x', { pax })]);
  assertOk(tt, r);
  for (const n of ['d', 'f']) {
    const p = path.join(box.root, n);
    tt.equal(fx.lgetxattr(p, 'trusted.overlay.opaque'), null, `${n}: no trusted.overlay.opaque`);
    tt.equal(fx.lgetxattr(p, 'trusted.overlay.redirect'), null, `${n}: no trusted.overlay.redirect`);
    tt.same(fx.lgetxattr(p, 'user.kept'), Buffer.from('yes'), `${n}: user.kept is set`);
  }
  assertOutsideUntouched(tt, box);
});

// ================================================================ deferred work after the last entry (finish)

t.test("a directory's deferred mtime is not applied through a symlink that later replaced it", async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [dir('d/', { mtime: new Date(2_000_000_000) }), sym('d', box.odir)]);
  assertOk(tt, r);
  tt.ok(fs.lstatSync(path.join(box.root, 'd')).isSymbolicLink(), 'root/d is the symlink');
  tt.equal(fs.statSync(box.odir).mtimeMs, 1_000_000_000, 'the outside dir keeps its mtime');
  assertOutsideUntouched(tt, box);
});

t.test("a directory's deferred mtime is not applied through a symlink that later replaced its parent", async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [dir('a/'), dir('a/dir/', { mtime: new Date(2_000_000_000) }), sym('a', box.outside)]);
  assertOk(tt, r);
  tt.ok(fs.lstatSync(path.join(box.root, 'a')).isSymbolicLink(), 'root/a is the symlink');
  tt.equal(fs.statSync(box.odir).mtimeMs, 1_000_000_000, 'the outside dir keeps its mtime');
  assertOutsideUntouched(tt, box);
});

t.test('flatten: an opaque marker for a dir that a later entry replaces with a symlink deletes nothing outside', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [dir('d/'), { name: 'd/.wh..wh..opq', type: 'file', body: '' }, sym('d', box.outside)]);
  if (!r.ok) assertRefused(tt, r, 'd', /./);
  assertOutsideUntouched(tt, box);
});

t.test('flatten: an opaque marker for a dir whose parent a later entry replaces with a symlink deletes nothing outside', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [dir('a/'), dir('a/dir/'), { name: 'a/dir/.wh..wh..opq', type: 'file', body: '' }, sym('a', box.outside)]);
  if (!r.ok) assertRefused(tt, r, 'a', /./);
  assertOutsideUntouched(tt, box);
});

// ================================================================ whiteouts, the rules

t.test('overlay: a whiteout .wh.b becomes a 0:0 char device named b', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [{ name: '.wh.b', type: 'file', body: '' }, dir('d/'), { name: 'd/.wh.c', type: 'file', body: '' }]);
  assertOk(tt, r);
  for (const n of ['b', 'd/c']) {
    const st = fs.lstatSync(path.join(box.root, n));
    tt.ok(st.isCharacterDevice(), `${n} is a char device`);
    tt.same(devOf(st.rdev), [0, 0], `${n} is 0:0`);
  }
  tt.same(rootListing(box.root), ['b', 'd', 'd/c'], 'no .wh. file is left');
  tt.equal(r.res?.stats.whiteouts, 2);
  assertOutsideUntouched(tt, box);
});

t.test('overlay: .wh..wh..opq sets trusted.overlay.opaque = y on its directory', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [dir('d/'), { name: 'd/.wh..wh..opq', type: 'file', body: '' }, file('d/keep', 'k'), dir('e/')]);
  assertOk(tt, r);
  tt.same(fx.lgetxattr(path.join(box.root, 'd'), 'trusted.overlay.opaque'), Buffer.from('y'));
  tt.equal(fx.lgetxattr(path.join(box.root, 'e'), 'trusted.overlay.opaque'), null, 'not on a sibling');
  tt.same(rootListing(box.root), ['d', 'd/keep', 'e'], 'no marker file is left');
  tt.equal(r.res?.stats.opaques, 1);
  assertOutsideUntouched(tt, box);
});

t.test('flatten: a whiteout .wh.b over a previous layer deletes b (and d/.wh.c deletes d/c)', async (tt) => {
  const box = setup(tt);
  assertOk(tt, await layer(box.root, 'flatten', [file('a', 'a'), file('b', 'b'), dir('d/'), file('d/c', 'c'), dir('e/'), file('e/x', 'x')]));
  const r = await layer(box.root, 'flatten', [{ name: '.wh.b', type: 'file', body: '' }, { name: 'd/.wh.c', type: 'file', body: '' }, { name: '.wh.e', type: 'file', body: '' }]);
  assertOk(tt, r);
  tt.same(rootListing(box.root), ['a', 'd'], 'b, d/c and the whole e are gone; nothing else added');
  assertOutsideUntouched(tt, box);
});

async function opaqueFlatten(tt: Test, markerFirst: boolean): Promise<void> {
  const box = setup(tt);
  assertOk(tt, await layer(box.root, 'flatten', [dir('d/'), file('d/old', 'o'), dir('d/sub/'), file('d/sub/old2', 'o'), dir('other/'), file('other/keep', 'k')]));
  const marker: E = { name: 'd/.wh..wh..opq', type: 'file', body: '' };
  const adds: E[] = [file('d/new', 'n'), dir('d/sub/'), file('d/sub/new2', 'n')];
  const r = await layer(box.root, 'flatten', markerFirst ? [dir('d/'), marker, ...adds] : [dir('d/'), ...adds, marker]);
  assertOk(tt, r);
  tt.same(rootListing(box.root), ['d', 'd/new', 'd/sub', 'd/sub/new2', 'other', 'other/keep'], 'old children gone, new ones kept, siblings untouched');
  assertOutsideUntouched(tt, box);
}

t.test('flatten: an opaque dir (marker before the new children) deletes the old children and keeps the ones the layer adds', async (tt) => {
  await opaqueFlatten(tt, true);
});

t.test('flatten: an opaque dir (marker after the new children) deletes the old children and keeps the ones the layer adds', async (tt) => {
  await opaqueFlatten(tt, false);
});

t.test('flatten: under an opaque dir, a file the layer adds survives even when its parent dir has no entry of its own', async (tt) => {
  const box = setup(tt);
  assertOk(tt, await layer(box.root, 'flatten', [dir('d/'), file('d/old', 'o'), dir('d/sub/'), file('d/sub/old2', 'o')]));
  const r = await layer(box.root, 'flatten', [dir('d/'), { name: 'd/.wh..wh..opq', type: 'file', body: '' }, file('d/sub/new', 'n')]);
  assertOk(tt, r);
  // The overlay view of the same layer shows d/sub/new (and only it) under d.
  tt.same(rootListing(box.root), ['d', 'd/sub', 'd/sub/new'], 'd/sub/new is kept, the old children are gone');
  assertOutsideUntouched(tt, box);
});

// ================================================================ metadata

t.test('mode bits are preserved, setuid/setgid/sticky included (after chown)', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [
    file('suid', '#!', { mode: 0o4755, uid: 1000, gid: 1000 }),
    file('sgid', '#!', { mode: 0o2750, uid: 1000, gid: 50 }),
    dir('tmp/', { mode: 0o1777 }),
    file('plain', 'p', { mode: 0o640 }),
    dir('private/', { mode: 0o700, uid: 7 }),
  ]);
  assertOk(tt, r);
  const m = (n: string): number => fs.lstatSync(path.join(box.root, n)).mode & 0o7777;
  tt.equal(m('suid'), 0o4755);
  tt.equal(m('sgid'), 0o2750);
  tt.equal(m('tmp'), 0o1777);
  tt.equal(m('plain'), 0o640);
  tt.equal(m('private'), 0o700);
  assertOutsideUntouched(tt, box);
});

t.test('a file gets the owner and mode of its header where creating it already gives them and where it does not', async (tt) => {
  // The chown and chmod a new file would not change are left out: a new file
  // takes its group from a set-group-ID directory, and its mode through the
  // umask; both must still come out as the header says.
  const box = setup(tt);
  const r = await layer(box.root, 'overlay', [
    dir('g/', { mode: 0o2775, uid: 0, gid: 50 }),
    file('g/root-owned', 'a', { mode: 0o644, uid: 0, gid: 0 }),
    file('g/staff', 'b', { mode: 0o644, uid: 0, gid: 50 }),
    dir('g/sub/', { mode: 0o755, uid: 0, gid: 0 }),
    file('g/sub/f', 'c', { mode: 0o644, uid: 0, gid: 0 }),
    file('g/implicit/f', 'd', { mode: 0o644, uid: 0, gid: 0 }),
    file('wide', 'e', { mode: 0o666, uid: 0, gid: 0 }),
    file('exec', 'f', { mode: 0o755, uid: 0, gid: 0 }),
    file('other', 'g', { mode: 0o644, uid: 1000, gid: 1000 }),
  ]);
  assertOk(tt, r);
  const st = (n: string) => fs.lstatSync(path.join(box.root, n));
  const own = (n: string) => `${st(n).uid}:${st(n).gid} ${(st(n).mode & 0o7777).toString(8)}`;
  tt.equal(own('g/root-owned'), '0:0 644', 'not the set-group-ID directory\'s group');
  tt.equal(own('g/staff'), '0:50 644');
  tt.equal(own('g/sub/f'), '0:0 644');
  tt.equal(own('g/implicit/f'), '0:0 644', 'under a directory the layer did not list, made inside the set-group-ID one');
  tt.equal(own('wide'), '0:0 666', 'the umask does not take the group and others\' write bits');
  tt.equal(own('exec'), '0:0 755');
  tt.equal(own('other'), '1000:1000 644');
  assertOutsideUntouched(tt, box);
});

t.test('a layer root in a set-group-ID directory of another group: files still get the header\'s group', async (tt) => {
  const box = setup(tt);
  fs.chownSync(box.root, 0, 50);
  fs.chmodSync(box.root, 0o2755);
  const r = await layer(box.root, 'overlay', [file('top', 'a', { uid: 0, gid: 0 }), file('d/inner', 'b', { uid: 0, gid: 0 })]);
  assertOk(tt, r);
  tt.equal(fs.lstatSync(path.join(box.root, 'top')).gid, 0);
  tt.equal(fs.lstatSync(path.join(box.root, 'd/inner')).gid, 0);
});

t.test('uid/gid come from the header, and from PAX uid/gid when present (files, dirs, symlinks)', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [
    file('h', 'h', { uid: 1234, gid: 5678 }),
    file('p', 'p', { uid: 1, gid: 2, pax: { uid: '3000000', gid: '3000001' } }),
    dir('d/', { uid: 33, gid: 34 }),
    sym('s', 'h', { uid: 42, gid: 43 }),
    sym('sp', 'h', { pax: { uid: '4000000', gid: '4000001' } }),
  ]);
  assertOk(tt, r);
  const o = (n: string): [number, number] => {
    const st = fs.lstatSync(path.join(box.root, n));
    return [st.uid, st.gid];
  };
  tt.same(o('h'), [1234, 5678]);
  tt.same(o('p'), [3000000, 3000001]);
  tt.same(o('d'), [33, 34]);
  tt.same(o('s'), [42, 43], 'the symlink itself is chowned (lchown)');
  tt.same(o('sp'), [4000000, 4000001]);
  assertOutsideUntouched(tt, box);
});

t.test('mtimes of files, symlinks (lutimes) and directories (set after their children) match the header, PAX fractional mtime included', async (tt) => {
  const box = setup(tt);
  const s = (sec: number): Date => new Date(sec * 1000);
  const r = await layer(box.root, 'overlay', [
    dir('d/', { mtime: s(1_200_000_000) }),
    dir('d/e/', { mtime: s(1_250_000_000) }),
    file('d/e/f', 'x', { mtime: s(1_300_000_000) }),
    file('d/g', 'x', { mtime: s(1_000_000_000) }),
    sym('d/s', 'g', { mtime: s(1_100_000_000) }),
    file('frac', 'x', { pax: { mtime: '1234567890.25' } }),
    dir('fracdir/', { pax: { mtime: '1234567891.5' } }),
    file('fracdir/child', 'x'),
  ]);
  assertOk(tt, r);
  const mt = (n: string): bigint => fs.lstatSync(path.join(box.root, n), { bigint: true }).mtimeNs;
  tt.equal(mt('d'), 1_200_000_000_000_000_000n, 'd (set after its children)');
  tt.equal(mt('d/e'), 1_250_000_000_000_000_000n, 'd/e (set after its children)');
  tt.equal(mt('d/e/f'), 1_300_000_000_000_000_000n, 'd/e/f');
  tt.equal(mt('d/g'), 1_000_000_000_000_000_000n, 'd/g');
  tt.equal(mt('d/s'), 1_100_000_000_000_000_000n, 'the symlink d/s itself (lutimes)');
  tt.equal(mt('frac'), 1_234_567_890_250_000_000n, 'PAX fractional mtime on a file');
  tt.equal(mt('fracdir'), 1_234_567_891_500_000_000n, 'PAX fractional mtime on a directory');
  tt.equal(mt('fracdir/child'), BigInt(FIXED.getTime()) * 1_000_000n, 'the header mtime of fracdir/child');
  assertOutsideUntouched(tt, box);
});

t.test('FIFO, char and block device entries are created with the right type, numbers and mode', async (tt) => {
  const box = setup(tt);
  const r = await layer(box.root, 'flatten', [
    { name: 'dev/', type: 'directory', mode: 0o755 },
    { name: 'dev/fifo', type: 'fifo', mode: 0o620 },
    { name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 },
    { name: 'dev/tty5', type: 'character-device', mode: 0o620, devmajor: 4, devminor: 5, uid: 0, gid: 5 },
    { name: 'dev/loop7', type: 'block-device', mode: 0o660, devmajor: 7, devminor: 7 },
  ]);
  assertOk(tt, r);
  const st = (n: string): fs.Stats => fs.lstatSync(path.join(box.root, n));
  tt.ok(st('dev/fifo').isFIFO(), 'fifo is a FIFO');
  tt.equal(st('dev/fifo').mode & 0o7777, 0o620);
  tt.ok(st('dev/null').isCharacterDevice(), 'null is a char device');
  tt.same(devOf(st('dev/null').rdev), [1, 3]);
  tt.equal(st('dev/null').mode & 0o7777, 0o666);
  tt.ok(st('dev/tty5').isCharacterDevice());
  tt.same(devOf(st('dev/tty5').rdev), [4, 5]);
  tt.equal(st('dev/tty5').gid, 5);
  tt.ok(st('dev/loop7').isBlockDevice(), 'loop7 is a block device');
  tt.same(devOf(st('dev/loop7').rdev), [7, 7]);
  tt.equal(r.res?.stats.fifos, 1);
  tt.equal(r.res?.stats.devices, 3);
  assertOutsideUntouched(tt, box);
});

t.test('a binary xattr value (security.capability, user.x = 80 ff 00) survives byte-exact', async (tt) => {
  const box = setup(tt);
  const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
  const ux = Buffer.from([0x80, 0xff, 0x00]);
  const tarBuf = await makeTar([
    file('ping', 'ELF', {
      mode: 0o755,
      pax: {
        'SCHILY.xattr.security.capability': 'C'.repeat(cap.length),
        'SCHILY.xattr.user.x': 'Q'.repeat(ux.length),
      },
    }),
  ]);
  patchBytes(tarBuf, `security.capability=${'C'.repeat(cap.length)}\n`, Buffer.concat([Buffer.from('security.capability='), cap, Buffer.from('\n')]));
  patchBytes(tarBuf, `user.x=${'Q'.repeat(ux.length)}\n`, Buffer.concat([Buffer.from('user.x='), ux, Buffer.from('\n')]));
  const r = await extract(box.root, 'overlay', tarBuf);
  assertOk(tt, r);
  const p = path.join(box.root, 'ping');
  tt.same(fx.lgetxattr(p, 'security.capability'), cap, 'security.capability byte-exact');
  tt.same(fx.lgetxattr(p, 'user.x'), ux, 'user.x byte-exact');
  tt.equal(fs.readFileSync(p, 'utf8'), 'ELF');
  tt.equal(r.res?.stats.xattrs, 2);
  assertOutsideUntouched(tt, box);
});

t.test('a directory entry over an existing directory keeps its children (same layer and a later layer)', async (tt) => {
  const box = setup(tt);
  assertOk(tt, await layer(box.root, 'flatten', [dir('d/'), file('d/old', 'o'), dir('d/', { mode: 0o750 }), file('d/two', 't')]));
  tt.same(rootListing(box.root), ['d', 'd/old', 'd/two'], 'same layer: d/old kept');
  const ino = fs.lstatSync(path.join(box.root, 'd')).ino;
  assertOk(tt, await layer(box.root, 'flatten', [dir('d/', { mode: 0o700, uid: 9 })]));
  tt.same(rootListing(box.root), ['d', 'd/old', 'd/two'], 'later layer: children kept');
  const st = fs.lstatSync(path.join(box.root, 'd'));
  tt.equal(st.ino, ino, 'the same directory');
  tt.equal(st.mode & 0o7777, 0o700, 'with the new mode');
  tt.equal(st.uid, 9, 'and the new owner');
  assertOutsideUntouched(tt, box);
});

t.test('a file entry over an existing directory replaces it', async (tt) => {
  const box = setup(tt);
  assertOk(tt, await layer(box.root, 'flatten', [dir('d/'), dir('d/sub/'), file('d/sub/c', 'c')]));
  const r = await layer(box.root, 'flatten', [file('d', 'now a file')]);
  assertOk(tt, r);
  tt.ok(fs.lstatSync(path.join(box.root, 'd')).isFile(), 'd is a regular file');
  tt.equal(fs.readFileSync(path.join(box.root, 'd'), 'utf8'), 'now a file');
  tt.same(rootListing(box.root), ['d']);
  assertOutsideUntouched(tt, box);
});

t.test('a file body is written whole and no file stays open after a refusal mid-layer', async (tt) => {
  const box = setup(tt);
  const big = Buffer.alloc(3 * 1024 * 1024 + 17, 0x61);
  const r = await layer(box.root, 'overlay', [file('big', big), file('../x', 'no'), file('after', 'never')]);
  assertRefused(tt, r, '../x', /climbs out/);
  tt.equal(fs.lstatSync(path.join(box.root, 'big')).size, big.length, 'the entry before the refusal is whole');
  tt.notOk(lst(path.join(box.root, 'after')), 'nothing after the refusal is applied');
  assertOutsideUntouched(tt, box);
});

t.test('an entry that fails for a reason other than its path still rejects with a GlassboxError that names it', async (tt) => {
  const cases: [string, E, boolean][] = [
    // [entry name as it appears in the message, entry, may it be applied instead?]
    ['empty-target', { name: 'empty-target', type: 'symlink', linkname: '', mode: 0o777 }, false],
    ['bad', { name: 'placeholder', type: 'file', body: 'x', mode: 0o644, pax: { path: 'bad\u0000name' } }, false],
    // Linux refuses user.* xattrs on symlinks (EPERM): skipping them, as docker does, is fine too.
    ['xattr-link', { name: 'xattr-link', type: 'symlink', linkname: 'x', mode: 0o777, pax: { 'SCHILY.xattr.user.a': '1' } }, true],
  ];
  for (const [shown, entry, mayApply] of cases) {
    const box = setup(tt);
    const r = await layer(box.root, 'flatten', [entry]);
    if (r.ok && mayApply) {
      tt.pass(`${shown}: applied`);
    } else {
      tt.notOk(r.ok, `${shown}: rejected`);
      tt.ok(r.err instanceof GlassboxError, `${shown}: the error is a GlassboxError (got ${r.err?.constructor.name}: ${r.err?.message})`);
      tt.match(r.err?.message ?? '', shown, `${shown}: the error names the entry`);
    }
    assertOutsideUntouched(tt, box);
  }
});
