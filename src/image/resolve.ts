// Finding an image in the store by any name a user types: light, so that
// commands which only look things up do not load the pull and unpack code.
import { GlassboxError } from '../util/errors.js';
import { parseDigest } from './digest.js';
import { parseReference, repositoryName, formatReference, type Reference } from './reference.js';
import type { ImageRecord, Store } from './store.js';

/** The name an image is recorded under: name:tag, or name@digest when pulled by digest alone. */
export function recordName(ref: Reference): string {
  return ref.tag ? `${repositoryName(ref)}:${ref.tag}` : formatReference(ref);
}

/** Find images by name (any docker form), full or short image ID, or manifest digest. */
export function resolveImages(store: Store, query: string): ImageRecord[] {
  const all = store.images();
  let byName: string | undefined;
  try {
    byName = recordName(parseReference(query));
  } catch {
    byName = undefined;
  }
  const exact = all.filter((r) => r.name === byName || r.name === query);
  if (exact.length) return exact;
  const hex = query.replace(/^sha256:/, '');
  if (/^[a-f0-9]{4,64}$/.test(hex)) {
    return all.filter((r) => {
      if (parseDigest(r.digest).hex.startsWith(hex)) return true;
      try {
        return parseDigest(store.manifest(r.digest).config.digest).hex.startsWith(hex);
      } catch {
        return false;
      }
    });
  }
  return [];
}

export function resolveImage(store: Store, query: string, op: string): ImageRecord {
  const found = resolveImages(store, query);
  if (found.length === 0) throw new GlassboxError('no such image', { op, subject: query, code: 'ENOENT' });
  const ids = new Set(found.map((r) => r.digest));
  if (ids.size > 1) throw new GlassboxError(`ambiguous: matches ${found.map((r) => r.name).join(', ')}`, { op, subject: query, code: 'EINVAL' });
  return found[0]!;
}

