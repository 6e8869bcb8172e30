// struct sockaddr as strace prints it, per family.
import { ADDRESS_FAMILIES, AF_INET, AF_INET6, AF_NETLINK, AF_UNIX } from '../syscalls/constants.js';
import { quote, quoteHex, xval } from './format.js';

/** An IPv4 or IPv6 address as inet_ntop writes it (IPv6 shortened, IPv4-mapped with its dotted tail). */
export function inetAddr(b: Uint8Array, family: number): string {
  if (family === AF_INET) return [...b.subarray(0, 4)].join('.');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  // The longest run of two or more zero words becomes "::" (the first, on a tie).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [best, bestLen] = [i, j - i];
    i = j;
  }
  const v4Tail = best === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff));
  const hexWords = (from: number, to: number) => words.slice(from, to).map((w) => w.toString(16));
  if (v4Tail) {
    const head = bestLen === 5 ? '::ffff:' : '::';
    return head + [...b.subarray(12, 16)].join('.');
  }
  if (best < 0) return hexWords(0, 8).join(':');
  return `${hexWords(0, best).join(':')}::${hexWords(best + bestLen, 8).join(':')}`;
}

/** A socket address of `len` bytes (the call's addrlen), from what the tracer captured. */
export function sockaddrText(b: Uint8Array, len: number): string {
  const n = Math.min(len, b.length);
  if (n < 2) return quoteHex(b.subarray(0, n));
  const v = new DataView(b.buffer, b.byteOffset, n);
  const family = v.getUint16(0, true);
  const fam = `sa_family=${xval(family, ADDRESS_FAMILIES, 'AF_')}`;
  const fields: string[] = [fam];
  if (family === AF_UNIX) {
    if (n > 2) {
      const path = b.subarray(2, n);
      if (path[0] === 0) fields.push(`sun_path=@${quote(path.subarray(1))}`);
      else fields.push(`sun_path=${quote(trimNul(path))}`);
    }
  } else if (family === AF_INET && n >= 8) {
    fields.push(`sin_port=htons(${v.getUint16(2, false)})`, `sin_addr=inet_addr("${inetAddr(b.subarray(4, 8), AF_INET)}")`);
  } else if (family === AF_INET6 && n >= 24) {
    fields.push(
      `sin6_port=htons(${v.getUint16(2, false)})`,
      `sin6_flowinfo=htonl(${v.getUint32(4, false)})`,
      `inet_pton(AF_INET6, "${inetAddr(b.subarray(8, 24), AF_INET6)}", &sin6_addr)`,
    );
    if (n >= 28) fields.push(`sin6_scope_id=${v.getUint32(24, true)}`);
  } else if (family === AF_NETLINK && n >= 12) {
    fields.push(`nl_pid=${v.getUint32(4, true)}`, `nl_groups=${v.getUint32(8, true).toString(16).padStart(8, '0')}`);
  } else {
    fields.push(`sa_data=${quote(b.subarray(2, n))}`);
  }
  return `{${fields.join(', ')}}`;
}

function trimNul(b: Uint8Array): Uint8Array {
  const nul = b.indexOf(0);
  return nul >= 0 ? b.subarray(0, nul) : b;
}
