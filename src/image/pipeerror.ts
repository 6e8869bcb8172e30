// What a layer transfer's failure is, on both sides of the thread boundary:
// the kinds a worker reports and the errors the main thread rebuilds from
// them. Kept apart from layerpipe.ts so that the main thread, which only
// rebuilds errors, does not load the pipeline (zlib, fzstd, tar-stream, the
// addon: ~25 ms before a pull's first request, with a cold page cache).
import { GlassboxError } from '../util/errors.js';

/** A failure of the transfer itself (reset, truncation, stall): worth another attempt. */
export class TransferError extends Error {
  override name = 'TransferError';
}

/** An error that crossed from a worker: enough to rebuild it on the other side. */
export interface PipeError {
  /** request: the registry's own answer (404, 401, a Retry-After too long), rebuilt word for word. */
  kind: 'transfer' | 'refused' | 'system' | 'data' | 'request';
  message: string;
  code?: string;
  syscall?: string;
  path?: string;
  op?: string;
  subject?: string;
  detail?: string;
}

export type AnyError = Error & { code?: string; syscall?: string; path?: string; op?: string; subject?: string; detail?: string };

export function toPipeError(e: unknown): PipeError {
  const x = e as AnyError;
  const kind = e instanceof TransferError ? 'transfer' : x.name === 'GlassboxError' ? 'refused' : x.syscall ? 'system' : 'data';
  return { kind, message: x.message ?? String(e), code: x.code, syscall: x.syscall, path: x.path, op: x.op, subject: x.subject, detail: x.detail };
}

/** The error a PipeError stands for, rebuilt on this side of the thread boundary. */
export function fromPipeError(p: PipeError, layer: string, op: string, subject?: string): Error {
  switch (p.kind) {
    case 'transfer':
      return new TransferError(p.message);
    case 'refused':
      return new GlassboxError(`layer ${layer}: ${p.detail ?? p.message}`, { op, subject, code: p.code });
    case 'system':
      return Object.assign(new Error(p.message), { code: p.code, syscall: p.syscall, path: p.path });
    case 'data':
      return new GlassboxError(`layer ${layer}: the content matches its digest but is not a valid layer: ${p.message}`, { op, subject, code: 'EBADMSG' });
    case 'request':
      return new GlassboxError(p.detail ?? p.message, { op: p.op ?? op, subject: p.subject, code: p.code });
  }
}

