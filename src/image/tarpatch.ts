// tar-stream decodes PAX records as UTF-8, which corrupts binary xattr values
// (security.capability is binary; Go's archive/tar, which made most layers,
// stores raw bytes in SCHILY.xattr.*). We replace its PAX decoder with one
// that keeps xattr values byte-exact as latin1 strings (one char per byte);
// every other record stays UTF-8. Everything else of the parser is untouched.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const XATTR_PREFIX = 'SCHILY.xattr.';
let patched = false;

export function patchTarStreamPax(): void {
  if (patched) return;
  const require = createRequire(import.meta.url);
  const headersPath = join(dirname(require.resolve('tar-stream')), 'headers.js');
  const headers = require(headersPath) as { decodePax: (buf: Buffer) => Record<string, string> };
  headers.decodePax = decodePaxBinarySafe;
  patched = true;
}

export function decodePaxBinarySafe(buf: Buffer): Record<string, string> {
  const result: Record<string, string> = {};
  let b = buf;
  while (b.length) {
    let i = 0;
    while (i < b.length && b[i] !== 0x20) i++;
    const len = parseInt(b.subarray(0, i).toString('latin1'), 10);
    if (!len || len > b.length) return result;
    const record = b.subarray(i + 1, len - 1);
    const eq = record.indexOf(0x3d);
    if (eq === -1) return result;
    const key = record.subarray(0, eq).toString('utf8');
    const value = record.subarray(eq + 1);
    result[key] = key.startsWith(XATTR_PREFIX) ? value.toString('latin1') : value.toString('utf8');
    b = b.subarray(len);
  }
  return result;
}

/** The xattrs of a PAX header: name -> raw bytes. */
export function paxXattrs(pax: Record<string, string> | null | undefined): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!pax) return out;
  for (const [k, v] of Object.entries(pax)) {
    if (k.startsWith(XATTR_PREFIX)) out.set(k.slice(XATTR_PREFIX.length), Buffer.from(v, 'latin1'));
  }
  return out;
}
