// Arguments and return values printed as strace -f prints them. One small
// decoder per call, keyed by name; the rest fall back to their signatures.
import { Call, type Decoder, type RawSyscall } from './call.js';
import { credsDecoders } from './creds.js';
import { fileDecoders } from './file.js';
import { genericArgs } from './generic.js';
import { ioctlDecoders } from './ioctl.js';
import { memoryDecoders } from './memory.js';
import { namespaceDecoders } from './namespace.js';
import { netDecoders } from './net.js';
import { processDecoders } from './process.js';
import { signalDecoders } from './signal.js';
import { startupDecoders } from './startup.js';

export type { RawSyscall, Decoder } from './call.js';
export { decodeRet, type DecodedRet } from './ret.js';

const DECODERS: Readonly<Record<string, Decoder>> = {
  ...fileDecoders,
  ...processDecoders,
  ...namespaceDecoders,
  ...credsDecoders,
  ...netDecoders,
  ...signalDecoders,
  ...memoryDecoders,
  ...ioctlDecoders,
  ...startupDecoders,
};

/** strace's text for each argument it prints (a call may print fewer than six). */
export function decodeArgs(s: RawSyscall): string[] {
  const c = new Call(s);
  const decoder = s.name ? DECODERS[s.name] : undefined;
  return decoder ? decoder(c) : genericArgs(c, s.name);
}

/** Whether a call has a decoder of its own (the others print by signature). */
export function hasDecoder(name: string): boolean {
  return name in DECODERS;
}
