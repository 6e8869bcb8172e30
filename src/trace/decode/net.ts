// Sockets: socket, bind, connect, sendto, sendmsg; netlink payloads decoded.
import {
  ADDRESS_FAMILIES,
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  AF_PACKET,
  ETHER_PROTOCOLS,
  IP_PROTOCOLS,
  NETLINK_PROTOCOLS,
  SEND_FLAGS,
  SOCK_FLAGS,
  SOCK_TYPES,
} from '../syscalls/constants.js';
import type { Call, Decoder } from './call.js';
import { bufferText, flags, hex, lookup, uint32, xval } from './format.js';
import { pair } from './file.js';
import { looksLikeNetlink, netlinkText } from './netlink.js';
import { sockaddrText } from './sockaddr.js';

/** A socket type: the type by name, then SOCK_CLOEXEC and SOCK_NONBLOCK. */
export function sockType(v: number): string {
  const t = uint32(v);
  const name = lookup(SOCK_TYPES, t & 0xf);
  if (name === undefined) return flags(t, SOCK_FLAGS, 'SOCK_');
  const rest = (t & ~0xf) >>> 0;
  return rest ? `${name}|${flags(rest, SOCK_FLAGS, 'SOCK_')}` : name;
}

function protocol(domain: number, p: number): string {
  if (domain === AF_INET || domain === AF_INET6) return xval(p, IP_PROTOCOLS, 'IPPROTO_');
  if (domain === AF_NETLINK) return xval(p, NETLINK_PROTOCOLS, 'NETLINK_');
  if (domain === AF_PACKET) {
    const host = ((p & 0xff) << 8) | ((p >>> 8) & 0xff);
    return `htons(${lookup(ETHER_PROTOCOLS, host) ?? hex(host)})`;
  }
  return String(p);
}

function socket(c: Call): string[] {
  const domain = uint32(c.arg(0));
  return [xval(domain, ADDRESS_FAMILIES, 'AF_'), sockType(c.arg(1)), protocol(domain, uint32(c.arg(2)))];
}

/** The address argument i, `len` bytes long. */
function sockaddr(c: Call, i: number, len: number): string {
  const b = c.capture(i);
  if (c.arg(i) === 0) return 'NULL';
  return b && b.length ? sockaddrText(b, len) : c.ptr(i);
}

const familyOf = (b: Uint8Array | undefined) => (b && b.length >= 2 ? b[0]! | (b[1]! << 8) : undefined);

/**
 * Data sent on a socket: netlink messages when the destination is a netlink
 * address, or, with no address, when the bytes read as a NETLINK_ROUTE request;
 * a string otherwise.
 */
function payloadText(bytes: Uint8Array, len: number, dest: Uint8Array | undefined): string {
  const fam = familyOf(dest);
  if (fam === AF_NETLINK || (fam === undefined && looksLikeNetlink(bytes, len))) return netlinkText(bytes, len);
  return '';
}

function sendto(c: Call): string[] {
  const len = uint32(c.arg(2));
  const b = c.capture(1);
  const dest = c.arg(4) ? c.capture(4) : undefined;
  const data = (b && c.arg(1) && payloadText(b, len, dest)) || c.bufIn(1, len);
  return [c.int(0), data, String(len), c.flags(3, SEND_FLAGS, 'MSG_'), sockaddr(c, 4, uint32(c.arg(5))), c.uint(5)];
}

/**
 * sendmsg's struct msghdr, from the tracer's capture: u32 name length, the
 * name, u32 length of the first iovec, then as many of its bytes as were read.
 * The rest of the struct is not captured, so it ends in "...".
 */
function msghdr(c: Call, i: number): string {
  const b = c.capture(i);
  if (c.arg(i) === 0) return 'NULL';
  if (!b || b.length < 8) return c.ptr(i);
  const nameLen = b.readUInt32LE(0);
  const name = b.subarray(4, 4 + nameLen);
  const iovLen = b.readUInt32LE(4 + nameLen);
  const data = b.subarray(8 + nameLen);
  // The real length when the tracer says it, or at least one more byte than it read when it cut.
  const total = Math.max(iovLen, data.length + (c.cut(i) ? 1 : 0));
  const nameText = nameLen ? sockaddrText(name, nameLen) : 'NULL';
  const base = payloadText(data, total, nameLen ? name : undefined) || bufferText(data, total);
  return `{msg_name=${nameText}, msg_namelen=${nameLen}, msg_iov=[{iov_base=${base}, iov_len=${iovLen}}], ...}`;
}

export const netDecoders: Record<string, Decoder> = {
  socket,
  socketpair: (c) => [xval(uint32(c.arg(0)), ADDRESS_FAMILIES, 'AF_'), sockType(c.arg(1)), protocol(uint32(c.arg(0)), uint32(c.arg(2))), pair(c, 3)],
  bind: (c) => [c.int(0), sockaddr(c, 1, uint32(c.arg(2))), c.uint(2)],
  connect: (c) => [c.int(0), sockaddr(c, 1, uint32(c.arg(2))), c.uint(2)],
  sendto,
  sendmsg: (c) => [c.int(0), msghdr(c, 1), c.flags(2, SEND_FLAGS, 'MSG_')],
};
