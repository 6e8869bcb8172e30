// Applies an OCI layer (a tar stream) to a directory, exactly by the OCI layer
// rules, and never touches anything outside that directory, whatever the tar says.
//
// Two modes:
//  - 'overlay': the layer gets a directory of its own, as docker's overlay2 does;
//    whiteouts become overlayfs's own (a 0:0 character device for .wh.NAME, the
//    xattr trusted.overlay.opaque=y for .wh..wh..opq).
//  - 'flatten': the layer is applied on top of the layers already in the
//    directory; whiteouts delete (umoci unpack, `glassbox export`).
//
// Path safety. Every name is cleaned as docker cleans it: an absolute name is
// taken relative to the root, a relative one that climbs above the root is
// refused. Every parent directory is then resolved inside the root as if the
// root were / (what docker does in a chroot, and openat2's RESOLVE_IN_ROOT):
// a symlink in a parent path, made by an earlier entry, is followed, but an
// absolute target or a `..` restarts or stops at the root, never outside it.
// The last component is never followed: an existing entry there is replaced.
// Hardlink targets are resolved the same way. The directory is ours while we
// unpack into it, so nothing else changes it between a check and a use.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { addon } from '../native/addon.js';
import type { UnpackStats } from '../events/schema.js';
import { GlassboxError, errnoOf } from '../util/errors.js';
import { patchTarStreamPax, paxXattrs } from './tarpatch.js';

export type UnpackMode = 'overlay' | 'flatten';

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

const MAX_SYMLINKS = 40;
const MAX_SAMPLES = 40;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const OPEN_NEW_FILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/**
 * This process's umask, from /proc (reading it through process.umask() sets
 * it twice, a race with the other layer thread creating files); undefined
 * where /proc does not say.
 */
let umaskCache: number | null | undefined;
function currentUmask(): number | undefined {
  if (umaskCache === undefined) {
    try {
      const m = /^Umask:\s*([0-7]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
      umaskCache = m ? parseInt(m[1]!, 8) : null;
    } catch {
      umaskCache = null;
    }
  }
  return umaskCache ?? undefined;
}

export function emptyStats(): UnpackStats {
  return { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, whiteouts: 0, opaques: 0, devices: 0, fifos: 0, xattrs: 0, bytes: 0 };
}

export interface UnpackResult {
  stats: UnpackStats;
  /** A few notable entries, for the lesson: whiteouts, opaque dirs, links. */
  samples: string[];
}

class Refused extends Error {}
/** A path that resolveDir was told not to create is missing. */
class Missing extends Refused {}

/**
 * Lexically clean a tar name the way docker does: `filepath.Clean`, absolute
 * names rooted at the layer root, relative ones refused if they climb out.
 * Returns the components; [] is the root itself.
 */
export function cleanEntryName(name: string): string[] {
  const absolute = name.startsWith('/');
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length > 0) out.pop();
      else if (!absolute) throw new Refused(`"${name}" climbs out of the layer root`);
      continue;
    }
    out.push(c);
  }
  return out;
}

export class LayerWriter {
  readonly stats = emptyStats();
  readonly samples: string[] = [];
  /** Relative paths (resolved, symlink-free) known to be real directories. */
  private readonly dirs = new Set<string>(['']);
  /**
   * Paths this layer wrote, and every directory above them: an opaque
   * directory keeps these in flatten mode.
   */
  private readonly written = new Set<string>();
  private readonly opaqueDirs = new Set<string>();
  /** Directory times, set after the last entry (writing children changes them). Keyed by relative path. */
  private readonly dirTimes = new Map<string, [number, number]>();
  /**
   * The group of directories whose group we know, by relative path. A new
   * file gets its creator's group, or its directory's (a set-group-ID
   * directory, a grpid mount): in a directory of the creator's group it is
   * the creator's group either way, and a chown to it can be skipped.
   */
  private readonly dirGids = new Map<string, number>();
  private readonly fx = addon();
  private readonly euid = process.geteuid?.();
  private readonly egid = process.getegid?.();
  private readonly umask = currentUmask();

  constructor(
    readonly root: string,
    readonly mode: UnpackMode,
  ) {}

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  private sample(s: string): void {
    if (this.samples.length < MAX_SAMPLES) this.samples.push(s);
  }

  private markWritten(rel: string): void {
    this.written.add(rel);
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) this.written.add(rel.slice(0, i));
  }

  /** rel is no longer a directory of ours: drop it, and what was under it, from every record. */
  private forget(rel: string): void {
    const under = (d: string) => d === rel || d.startsWith(rel + '/');
    for (const d of this.dirs) if (under(d)) this.dirs.delete(d);
    for (const d of this.opaqueDirs) if (under(d)) this.opaqueDirs.delete(d);
    for (const d of this.dirTimes.keys()) if (under(d)) this.dirTimes.delete(d);
    for (const d of this.dirGids.keys()) if (under(d)) this.dirGids.delete(d);
  }

  /** The group a new entry in directory rel gets, when we know it. */
  private newEntryGid(rel: string): number | undefined {
    if (rel === '' && !this.dirGids.has('')) {
      try {
        this.dirGids.set('', fs.lstatSync(this.root).gid);
      } catch {
        return undefined;
      }
    }
    return this.dirGids.get(rel) === this.egid ? this.egid : undefined;
  }

  /**
   * Resolve a directory path inside the root, following symlinks as if the root
   * were /, creating missing directories (0755, root-owned, as docker does)
   * when `create`. Returns the resolved relative path, free of symlinks.
   */
  resolveDir(components: string[], create: boolean, what: string): string {
    let cur: string[] = [];
    const queue = [...components];
    let links = 0;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        cur.pop();
        continue;
      }
      const candidate = cur.length ? `${cur.join('/')}/${c}` : c;
      if (this.dirs.has(candidate)) {
        cur.push(c);
        continue;
      }
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(this.abs(candidate));
      } catch (e) {
        if (errnoOf(e) !== 'ENOENT') throw e;
      }
      if (!st) {
        if (!create) throw new Missing(`${what}: "${candidate}" does not exist in the layer`);
        const gid = this.newEntryGid(cur.join('/'));
        fs.mkdirSync(this.abs(candidate), { mode: 0o755 });
        this.dirs.add(candidate);
        if (gid !== undefined) this.dirGids.set(candidate, gid);
        cur.push(c);
        continue;
      }
      if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw new Refused(`${what}: too many levels of symbolic links`);
        const target = fs.readlinkSync(this.abs(candidate));
        if (target.startsWith('/')) cur = [];
        queue.unshift(...target.split('/'));
        continue;
      }
      if (!st.isDirectory()) throw new Refused(`${what}: "${candidate}" is not a directory`);
      this.dirs.add(candidate);
      this.dirGids.set(candidate, st.gid);
      cur.push(c);
    }
    return cur.join('/');
  }

  /** Remove whatever is at rel (never following a final symlink). */
  private removeExisting(rel: string, keepDir: boolean): boolean {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.abs(rel));
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return false;
      throw e;
    }
    if (keepDir && st.isDirectory()) return true;
    fs.rmSync(this.abs(rel), { recursive: true, force: true });
    if (st.isDirectory()) this.forget(rel);
    return false;
  }

  /**
   * Apply one tar entry. The body is consumed whatever happens. Every failure
   * becomes one line naming the entry: what the layer asks for and we refuse,
   * or what the host refused (with its errno as the code).
   */
  async apply(header: tar.Header, body: Readable): Promise<void> {
    try {
      if (header.name.includes('\0') || (header.linkname ?? '').includes('\0')) throw new Refused('a NUL byte in a name');
      await this.applyEntry(header, body);
    } catch (e) {
      body.resume();
      if (e instanceof Refused) {
        throw new GlassboxError(`refused entry "${header.name}": ${e.message}`, { op: 'unpack', code: 'EPERM' });
      }
      const err = e as NodeJS.ErrnoException;
      throw new GlassboxError(`entry "${header.name}": ${err.code ? `${err.syscall ?? ''} ${err.code}`.trim() : err.message}`, {
        op: 'unpack',
        code: err.code ?? 'EIO',
        cause: e,
      });
    }
  }

  private async applyEntry(header: tar.Header, body: Readable): Promise<void> {
    const parts = cleanEntryName(header.name);
    const base = parts.length ? parts[parts.length - 1]! : '';
    const parentParts = parts.slice(0, -1);

    if (base.startsWith(WHITEOUT_PREFIX)) {
      body.resume();
      this.whiteout(parentParts, base);
      return;
    }

    if (parts.length === 0) {
      // "./": the root directory's own metadata.
      body.resume();
      if (header.type === 'directory') this.setMeta('', header, true);
      return;
    }

    const parent = this.resolveDir(parentParts, true, 'parent directory');
    const rel = parent ? `${parent}/${base}` : base;
    const path = this.abs(rel);
    this.markWritten(rel);

    if (header.type === 'file' || header.type === 'contiguous-file') return this.writeFile(parent, rel, path, header, body);
    body.resume();
    this.applyOther(rel, path, header);
  }

  /**
   * Every entry but a regular file, none of which has anything to await.
   * Kept out of the function that streams a file's body so that each stays
   * small: as one async function with the whole switch, V8 spent 43 ms
   * optimising it on a background thread, in each worker, every pull.
   */
  private applyOther(rel: string, path: string, header: tar.Header): void {
    switch (header.type) {
      case 'directory': {
        const exists = this.removeExisting(rel, true);
        if (!exists) fs.mkdirSync(path, { mode: 0o700 });
        this.dirs.add(rel);
        this.stats.dirs++;
        this.setMeta(rel, header, true);
        return;
      }
      case 'symlink': {
        if (!header.linkname) throw new Refused('a symlink with an empty target');
        this.removeExisting(rel, false);
        fs.symlinkSync(header.linkname, path);
        this.stats.symlinks++;
        this.setMeta(rel, header, false, true);
        return;
      }
      case 'link': {
        const targetParts = cleanEntryName(header.linkname ?? '');
        if (targetParts.length === 0) throw new Refused('hardlink to the layer root');
        const tparent = this.resolveDir(targetParts.slice(0, -1), false, `hardlink target "${header.linkname}" parent`);
        const trel = tparent ? `${tparent}/${targetParts[targetParts.length - 1]}` : targetParts[targetParts.length - 1]!;
        let tst: fs.Stats;
        try {
          tst = fs.lstatSync(this.abs(trel));
        } catch {
          throw new Refused(`hardlink target "${header.linkname}" is not in the layer`);
        }
        if (tst.isDirectory()) throw new Refused(`hardlink target "${header.linkname}" is a directory`);
        if (trel === rel) return;
        this.removeExisting(rel, false);
        fs.linkSync(this.abs(trel), path);
        this.stats.hardlinks++;
        this.sample(`hardlink ${rel} => ${trel}`);
        return;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        this.removeExisting(rel, false);
        const type = header.type === 'fifo' ? S_IFIFO : header.type === 'block-device' ? S_IFBLK : S_IFCHR;
        this.fx.mknod(path, type | 0o600, header.devmajor ?? 0, header.devminor ?? 0);
        if (header.type === 'fifo') this.stats.fifos++;
        else {
          this.stats.devices++;
          this.sample(`device ${rel} ${header.devmajor}:${header.devminor}`);
        }
        this.setMeta(rel, header, false);
        return;
      }
      default:
        throw new Refused(`unsupported tar entry type "${header.type}"`);
    }
  }

  /** A regular file: made, its body written as it streams, its metadata set through its descriptor. */
  private async writeFile(parent: string, rel: string, path: string, header: tar.Header, body: Readable): Promise<void> {
    // A file made with its final mode needs no chmod: most layers' modes
    // (0644, 0755) pass through a 022 umask whole. Set-ID bits never do
    // (a chown would clear them), nor does what the umask takes.
    const want = this.fileMode(header);
    const direct = this.umask !== undefined && (want & 0o7000) === 0 && (want & this.umask) === 0;
    const createMode = direct ? want : 0o600;
    // Most entries are new: try the create first, clear the way only if it exists.
    let fd: number;
    try {
      fd = fs.openSync(path, OPEN_NEW_FILE, createMode);
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw e;
      this.removeExisting(rel, false);
      fd = fs.openSync(path, OPEN_NEW_FILE, createMode);
    }
    const gid = this.newEntryGid(parent);
    try {
      for await (const chunk of body) {
        let off = 0;
        while (off < chunk.length) off += fs.writeSync(fd, chunk, off);
        this.stats.bytes += chunk.length;
      }
      this.stats.files++;
      // Metadata through the descriptor: no path walk per call.
      this.setMeta(rel, header, false, false, { fd, owner: gid === undefined ? undefined : [this.euid!, gid], mode: direct ? want : undefined });
    } finally {
      fs.closeSync(fd);
    }
  }

  private whiteout(parentParts: string[], base: string): void {
    if (base === WHITEOUT_OPAQUE) {
      const dir = this.resolveDir(parentParts, true, 'opaque directory');
      this.stats.opaques++;
      this.sample(`opaque ${dir || '/'}`);
      if (this.mode === 'overlay') {
        this.fx.lsetxattr(this.abs(dir), OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
      } else {
        this.opaqueDirs.add(dir);
      }
      return;
    }
    if (base.startsWith(WHITEOUT_META_PREFIX)) return; // aufs metadata (.wh..wh.plnk and friends): not content
    const victim = base.slice(WHITEOUT_PREFIX.length);
    if (victim === '' || victim === '.' || victim === '..') throw new Refused(`bad whiteout name "${base}"`);
    this.stats.whiteouts++;
    let parent: string;
    try {
      parent = this.resolveDir(parentParts, this.mode === 'overlay', 'whiteout parent');
    } catch (e) {
      // Flatten: nothing below there to delete (docker's RemoveAll of a missing path).
      if (e instanceof Missing) return;
      throw e;
    }
    const rel = parent ? `${parent}/${victim}` : victim;
    this.sample(`whiteout ${rel}`);
    this.removeExisting(rel, false);
    if (this.mode === 'overlay') {
      this.fx.mknod(this.abs(rel), S_IFCHR | 0o600, 0, 0);
      this.markWritten(rel);
    }
  }

  private fileMode(header: tar.Header): number {
    return (header.mode ?? 0o644) & 0o7777;
  }

  /**
   * Owner, mode, xattrs and times of an entry. A regular file comes with its
   * descriptor, and with what it was made with (owner, mode) when that is
   * known: a chown or chmod to what the file already has is left out (two
   * of the six calls per file of a layer of small files).
   */
  private setMeta(rel: string, header: tar.Header, isDir: boolean, isLink = false, file?: { fd: number; owner?: [number, number]; mode?: number }): void {
    const path = this.abs(rel);
    const pax = (header.pax ?? undefined) as Record<string, string> | undefined;
    const uid = pax?.uid !== undefined ? Number(pax.uid) : (header.uid ?? 0);
    const gid = pax?.gid !== undefined ? Number(pax.gid) : (header.gid ?? 0);
    const mode = (header.mode ?? (isDir ? 0o755 : 0o644)) & 0o7777;
    const fd = file?.fd;
    // chmod after chown: chown clears set-id bits. Symlinks have no mode of their own.
    if (file) {
      const chown = !file.owner || file.owner[0] !== uid || file.owner[1] !== gid;
      if (chown) fs.fchownSync(file.fd, uid, gid);
      if (chown || file.mode !== mode) fs.fchmodSync(file.fd, mode);
    } else {
      fs.lchownSync(path, uid, gid);
      if (!isLink) fs.chmodSync(path, mode);
      if (isDir) this.dirGids.set(rel, gid);
    }
    for (const [name, value] of paxXattrs(pax)) {
      // A layer must not set overlayfs's own attributes: they would redirect
      // or hide paths in the merged view. Only our whiteout conversion does.
      if (name.startsWith('trusted.overlay.')) {
        this.sample(`xattr ${name} on ${rel} ignored`);
        continue;
      }
      try {
        this.fx.lsetxattr(path, name, value);
        this.stats.xattrs++;
      } catch (e) {
        // As docker: a file system without xattrs, or a namespace this file
        // type cannot carry (user.* on a symlink), skips the attribute.
        if (errnoOf(e) !== 'ENOTSUP' && errnoOf(e) !== 'EPERM') throw e;
        this.sample(`xattr ${name} on ${rel} skipped (${errnoOf(e)})`);
      }
    }
    const mtime = pax?.mtime !== undefined ? Number(pax.mtime) : (header.mtime?.getTime() ?? 0) / 1000;
    const atime = pax?.atime !== undefined ? Number(pax.atime) : mtime;
    if (isDir) this.dirTimes.set(rel, [atime, mtime]);
    else if (fd !== undefined) fs.futimesSync(fd, atime, mtime);
    else fs.lutimesSync(path, atime, mtime);
  }

  /** Remove, under each opaque directory, what this layer did not write (flatten mode). */
  private applyOpaque(dir: string): void {
    const walk = (rel: string): void => {
      let names: string[];
      try {
        names = fs.readdirSync(this.abs(rel));
      } catch (e) {
        if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return;
        throw e;
      }
      for (const n of names) {
        const child = rel ? `${rel}/${n}` : n;
        if (!this.written.has(child)) {
          fs.rmSync(this.abs(child), { recursive: true, force: true });
          this.forget(child);
        } else if (this.dirs.has(child)) {
          walk(child);
        }
      }
    };
    walk(dir);
  }

  /**
   * After the last entry: opaque directories (flatten), then directory times.
   * Only paths still known as our own real directories are touched: one that
   * a later entry replaced (by a symlink, say) is skipped, never followed.
   */
  finish(): UnpackResult {
    for (const d of [...this.opaqueDirs]) if (this.dirs.has(d)) this.applyOpaque(d);
    for (const [rel, [atime, mtime]] of this.dirTimes) {
      if (this.dirs.has(rel)) fs.lutimesSync(this.abs(rel), atime, mtime);
    }
    return { stats: this.stats, samples: this.samples };
  }
}

/**
 * A writable end that takes an uncompressed layer tar and applies it to root.
 * `done` settles once the last entry is applied (or on the first failure, after
 * which the writable is destroyed so the pipeline feeding it stops).
 */
export function layerExtractor(root: string, mode: UnpackMode): { writable: NodeJS.WritableStream; done: Promise<UnpackResult> } {
  patchTarStreamPax();
  const extract = tar.extract();
  const writer = new LayerWriter(root, mode);
  const done = (async () => {
    try {
      for await (const entry of extract) {
        await writer.apply(entry.header, entry as unknown as Readable);
      }
      return writer.finish();
    } catch (e) {
      extract.destroy(e as Error);
      throw e;
    }
  })();
  return { writable: extract as unknown as NodeJS.WritableStream, done };
}

