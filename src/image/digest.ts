// Content digests (OCI image-spec descriptor.md): algorithm:encoded. Every
// digest that came from outside is checked here before it names a file.
import { createHash, type Hash } from 'node:crypto';
import { GlassboxError } from '../util/errors.js';

const DIGEST_FORMS: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

export interface ParsedDigest {
  algorithm: 'sha256' | 'sha512';
  hex: string;
}

export function parseDigest(digest: string, what = 'digest'): ParsedDigest {
  const i = typeof digest === 'string' ? digest.indexOf(':') : -1;
  const algorithm = i > 0 ? digest.slice(0, i) : '';
  const hex = i > 0 ? digest.slice(i + 1) : '';
  const form = DIGEST_FORMS[algorithm];
  if (!form || !form.test(hex)) {
    throw new GlassboxError(`invalid ${what} ${JSON.stringify(digest)}`, { op: 'digest', code: 'EINVAL' });
  }
  return { algorithm: algorithm as ParsedDigest['algorithm'], hex };
}

export function isDigest(s: string): boolean {
  try {
    parseDigest(s);
    return true;
  } catch {
    return false;
  }
}

export function hasherFor(digest: string): Hash {
  return createHash(parseDigest(digest).algorithm);
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function digestOf(data: Buffer, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** The short form docker prints for image ids: the first 12 hex digits. */
export function shortId(digest: string): string {
  return parseDigest(digest).hex.slice(0, 12);
}
