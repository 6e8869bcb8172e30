// NETLINK_ROUTE messages as strace shows them: the header, the family's
// fixed struct, then the attributes, [{nla_len=8, nla_type=IFLA_MTU}, 1400].
import {
  ADDRESS_FAMILIES,
  AF_INET,
  AF_INET6,
  ARPHRD_TYPES,
  IFA_ATTRS,
  IFA_F_FLAGS,
  IFF_FLAGS,
  IFLA_ATTRS,
  IFLA_INFO_ATTRS,
  NLM_F_ACK_FLAGS,
  NLM_F_DEL_FLAGS,
  NLM_F_FLAGS,
  NLM_F_GET_FLAGS,
  NLM_F_NEW_FLAGS,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_MIN_TYPE,
  NLMSG_TYPES,
  RT_PROTOCOLS,
  RT_SCOPES,
  RT_TABLES,
  RTA_ATTRS,
  RTEXT_FILTERS,
  RTM_F_FLAGS,
  RTM_TYPES,
  RTN_TYPES,
  type Xlat,
} from '../syscalls/constants.js';
import { flags, hex, lookup, quote, quoteHex, splitFlags, xval } from './format.js';
import { inetAddr } from './sockaddr.js';

const align4 = (n: number) => (n + 3) & ~3;
const rtmType = (name: string) => RTM_TYPES.find(([n]) => n === name)![1];
const RTM_NEWLINK = rtmType('RTM_NEWLINK');
const RTM_NEWADDR = rtmType('RTM_NEWADDR');
const RTM_NEWROUTE = rtmType('RTM_NEWROUTE');

/** A NETLINK_ROUTE request, as far as the header says: its length fits and its type is known. */
export function looksLikeNetlink(b: Uint8Array, len: number): boolean {
  if (b.length < NLMSG_HDRLEN || len < NLMSG_HDRLEN) return false;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const msgLen = v.getUint32(0, true);
  const type = v.getUint16(4, true);
  const known = type < NLMSG_MIN_TYPE ? lookup(NLMSG_TYPES, type) !== undefined : lookup(RTM_TYPES, type) !== undefined;
  return msgLen >= NLMSG_HDRLEN && msgLen <= len && known;
}

function nlmsgFlags(type: number, f: number): string {
  const { names, rest } = splitFlags(f, NLM_F_FLAGS);
  let specific: Xlat | undefined;
  if (type === NLMSG_ERROR) specific = NLM_F_ACK_FLAGS;
  else if (type >= NLMSG_MIN_TYPE) specific = [NLM_F_NEW_FLAGS, NLM_F_DEL_FLAGS, NLM_F_GET_FLAGS, undefined][(type - NLMSG_MIN_TYPE) & 3];
  let left = rest;
  if (specific) {
    const s = splitFlags(rest, specific);
    names.push(...s.names);
    left = s.rest;
  }
  if (names.length === 0) return left === 0n ? '0' : `${hex(left)} /* NLM_F_??? */`;
  if (left) names.push(hex(left));
  return names.join('|');
}

type Field = [name: string, size: 1 | 2 | 4, show: (v: number) => string];

const structSize = (fields: Field[]) => fields.reduce((n, [, size]) => n + size, 0);

/**
 * The fixed struct after the header. A message too short for it shows its
 * first field and "...", as strace does. Fields named '' are padding.
 */
function struct(fields: Field[], b: Uint8Array): string {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const short = b.length < structSize(fields);
  const out: string[] = [];
  let off = 0;
  for (const [name, size, show] of fields) {
    const n = size === 1 ? v.getUint8(off) : size === 2 ? v.getUint16(off, true) : v.getUint32(off, true);
    if (name) out.push(`${name}=${show(n)}`);
    off += size;
    if (short) {
      out.push('...');
      break;
    }
  }
  return `{${out.join(', ')}}`;
}

const dec = (n: number) => String(n);
const decS = (n: number) => String(n | 0);
const family = (n: number) => xval(n, ADDRESS_FAMILIES, 'AF_');

const IFINFOMSG: Field[] = [
  ['ifi_family', 1, family],
  ['', 1, dec],
  ['ifi_type', 2, (n) => xval(n, ARPHRD_TYPES, 'ARPHRD_')],
  ['ifi_index', 4, decS],
  ['ifi_flags', 4, (n) => flags(n, IFF_FLAGS, 'IFF_')],
  ['ifi_change', 4, hex],
];
const IFADDRMSG: Field[] = [
  ['ifa_family', 1, family],
  ['ifa_prefixlen', 1, dec],
  ['ifa_flags', 1, (n) => flags(n, IFA_F_FLAGS, 'IFA_F_')],
  ['ifa_scope', 1, (n) => xval(n, RT_SCOPES, 'RT_SCOPE_')],
  ['ifa_index', 4, dec],
];
const RTMSG: Field[] = [
  ['rtm_family', 1, family],
  ['rtm_dst_len', 1, dec],
  ['rtm_src_len', 1, dec],
  ['rtm_tos', 1, dec],
  ['rtm_table', 1, (n) => lookup(RT_TABLES, n) ?? hex(n)],
  ['rtm_protocol', 1, (n) => xval(n, RT_PROTOCOLS, 'RTPROT_')],
  ['rtm_scope', 1, (n) => xval(n, RT_SCOPES, 'RT_SCOPE_')],
  ['rtm_type', 1, (n) => xval(n, RTN_TYPES, 'RTN_')],
  ['rtm_flags', 4, (n) => flags(n, RTM_F_FLAGS, 'RTM_F_')],
];

type AttrValue = (b: Uint8Array, family: number) => string;

/** A string attribute: up to its NUL, "..." when it has none. */
const strAttr: AttrValue = (b) => {
  const nul = b.indexOf(0);
  return nul >= 0 ? quote(b, nul) : quote(b) + '...';
};
const u32Attr: AttrValue = (b) => (b.length === 4 ? String(new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true)) : quoteHex(b));
const hwAttr: AttrValue = (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
const addrAttr: AttrValue = (b, fam) =>
  fam === AF_INET && b.length === 4 ? `inet_addr("${inetAddr(b, AF_INET)}")` : fam === AF_INET6 && b.length === 16 ? `inet_pton(AF_INET6, "${inetAddr(b, AF_INET6)}")` : quoteHex(b);
const flagsAttr = (table: Xlat, prefix: string): AttrValue => (b) =>
  b.length === 4 ? flags(new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true), table, prefix) : quoteHex(b);
const nested = (names: Xlat, values: Record<string, AttrValue>, prefix: string): AttrValue => (b, fam) => attrs(b, fam, names, values, prefix);

const IFLA_INFO_VALUES: Record<string, AttrValue> = { IFLA_INFO_KIND: strAttr, IFLA_INFO_SLAVE_KIND: strAttr };
const IFLA_VALUES: Record<string, AttrValue> = {
  IFLA_IFNAME: strAttr,
  IFLA_QDISC: strAttr,
  IFLA_IFALIAS: strAttr,
  IFLA_ALT_IFNAME: strAttr,
  IFLA_PHYS_PORT_NAME: strAttr,
  IFLA_ADDRESS: hwAttr,
  IFLA_BROADCAST: hwAttr,
  IFLA_PERM_ADDRESS: hwAttr,
  IFLA_MTU: u32Attr,
  IFLA_LINK: u32Attr,
  IFLA_MASTER: u32Attr,
  IFLA_TXQLEN: u32Attr,
  IFLA_NET_NS_PID: u32Attr,
  IFLA_NET_NS_FD: u32Attr,
  IFLA_GROUP: u32Attr,
  IFLA_PROMISCUITY: u32Attr,
  IFLA_NUM_TX_QUEUES: u32Attr,
  IFLA_NUM_RX_QUEUES: u32Attr,
  IFLA_MIN_MTU: u32Attr,
  IFLA_MAX_MTU: u32Attr,
  IFLA_EXT_MASK: flagsAttr(RTEXT_FILTERS, 'RTEXT_FILTER_'),
  IFLA_LINKINFO: nested(IFLA_INFO_ATTRS, IFLA_INFO_VALUES, 'IFLA_INFO_'),
};
const IFA_VALUES: Record<string, AttrValue> = {
  IFA_ADDRESS: addrAttr,
  IFA_LOCAL: addrAttr,
  IFA_BROADCAST: addrAttr,
  IFA_ANYCAST: addrAttr,
  IFA_MULTICAST: addrAttr,
  IFA_LABEL: strAttr,
  IFA_FLAGS: flagsAttr(IFA_F_FLAGS, 'IFA_F_'),
  IFA_RT_PRIORITY: u32Attr,
};
const RTA_VALUES: Record<string, AttrValue> = {
  RTA_DST: addrAttr,
  RTA_SRC: addrAttr,
  RTA_GATEWAY: addrAttr,
  RTA_PREFSRC: addrAttr,
  RTA_OIF: u32Attr,
  RTA_IIF: u32Attr,
  RTA_PRIORITY: u32Attr,
  RTA_TABLE: u32Attr,
  RTA_MARK: u32Attr,
};

const NLA_F_NESTED = 0x8000;
const NLA_F_NET_BYTEORDER = 0x4000;

/** Attributes: one as [{nla_len, nla_type}, value], several in a list; strace stops at a bad length. */
function attrs(b: Uint8Array, fam: number, names: Xlat, values: Record<string, AttrValue>, prefix: string): string {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const items: string[] = [];
  let off = 0;
  while (off + 4 <= b.length) {
    const len = v.getUint16(off, true);
    const rawType = v.getUint16(off + 2, true);
    const type = rawType & ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER);
    const typeName =
      (rawType & NLA_F_NESTED ? 'NLA_F_NESTED|' : '') + (rawType & NLA_F_NET_BYTEORDER ? 'NLA_F_NET_BYTEORDER|' : '') + xval(type, names, prefix);
    const head = `{nla_len=${len}, nla_type=${typeName}}`;
    if (len < 4) {
      items.push(head);
      break;
    }
    const value = b.subarray(off + 4, Math.min(off + len, b.length));
    const show = values[lookup(names, type) ?? ''] ?? ((x: Uint8Array) => quoteHex(x));
    items.push(value.length ? `[${head}, ${show(value, fam)}${off + len > b.length ? '...' : ''}]` : head);
    off += align4(len);
  }
  if (off < b.length && items.length === 0) return quoteHex(b.subarray(off));
  return items.length === 1 ? items[0]! : `[${items.join(', ')}]`;
}

function payload(type: number, b: Uint8Array): string {
  let fixed: Field[] | undefined;
  let names: Xlat = [];
  let values: Record<string, AttrValue> = {};
  let prefix = '';
  if (type >= RTM_NEWLINK && type < RTM_NEWLINK + 4) [fixed, names, values, prefix] = [IFINFOMSG, IFLA_ATTRS, IFLA_VALUES, 'IFLA_'];
  else if (type >= RTM_NEWADDR && type < RTM_NEWADDR + 4) [fixed, names, values, prefix] = [IFADDRMSG, IFA_ATTRS, IFA_VALUES, 'IFA_'];
  else if (type >= RTM_NEWROUTE && type < RTM_NEWROUTE + 4) [fixed, names, values, prefix] = [RTMSG, RTA_ATTRS, RTA_VALUES, 'RTA_'];
  if (!fixed) return quoteHex(b);
  const text = struct(fixed, b);
  const size = align4(structSize(fixed));
  if (b.length <= size) return text;
  return `${text}, ${attrs(b.subarray(size), b[0]!, names, values, prefix)}`;
}

/**
 * The messages in a buffer of `len` bytes of which `b` were captured: one
 * message without payload as {header}, with one as [{header}, payload],
 * several in a list.
 */
export function netlinkText(b: Uint8Array, len: number): string {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const end = Math.min(len, b.length);
  const msgs: string[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= end) {
    const msgLen = v.getUint32(off, true);
    const type = v.getUint16(off + 4, true);
    const f = v.getUint16(off + 6, true);
    const typeText = type < NLMSG_MIN_TYPE ? xval(type, NLMSG_TYPES, 'NLMSG_') : xval(type, RTM_TYPES, 'RTM_');
    const head = `{nlmsg_len=${msgLen}, nlmsg_type=${typeText}, nlmsg_flags=${nlmsgFlags(type, f)}, nlmsg_seq=${v.getUint32(off + 8, true)}, nlmsg_pid=${v.getUint32(off + 12, true)}}`;
    const body = b.subarray(off + NLMSG_HDRLEN, Math.min(off + msgLen, end));
    msgs.push(body.length ? `[${head}, ${payload(type, body)}]` : head);
    if (msgLen < NLMSG_HDRLEN) break;
    off += align4(msgLen);
  }
  if (b.length < len && off < len) msgs.push('...');
  return msgs.length === 1 ? msgs[0]! : `[${msgs.join(', ')}]`;
}
