// Privileges: capabilities, prctl, seccomp, and bpf (the cgroup device program).
import {
  BPF_CMDS,
  CAPABILITIES,
  PR_CAP_AMBIENT_OPS,
  PRCTL_OPTIONS,
  SECCOMP_FILTER_FLAGS,
  SECCOMP_MODES,
  SECCOMP_OPS,
  SECUREBITS,
  SUID_DUMP,
} from '../syscalls/constants.js';
import type { Call, Decoder } from './call.js';
import { hex, lookup, uint32, xval } from './format.js';
import { signame } from './signal.js';

/** A capability set: 1<<CAP_CHOWN|1<<CAP_KILL, unknown bits in hex, 0 when empty. */
export function capSet(v: bigint): string {
  const names: string[] = [];
  let rest = v;
  for (const [name, n] of CAPABILITIES) {
    const b = 1n << BigInt(n);
    if (rest & b) {
      names.push(`1<<${name}`);
      rest &= ~b;
    }
  }
  if (rest) names.push(hex(rest));
  return names.length ? names.join('|') : '0';
}

/** capset's data: two struct __user_cap_data_struct, low 32 capabilities first. */
function capData(c: Call, i: number): string {
  const b = c.capture(i);
  if (!b || b.length < 24) return c.ptr(i);
  const set = (field: number) => BigInt(b.readUInt32LE(field * 4)) | (BigInt(b.readUInt32LE(12 + field * 4)) << 32n);
  return `{effective=${capSet(set(0))}, permitted=${capSet(set(1))}, inheritable=${capSet(set(2))}}`;
}

const cap = (c: Call, i: number) => xval(uint32(c.arg(i)), CAPABILITIES, 'CAP_');

function prctl(c: Call): string[] {
  const option = uint32(c.arg(0));
  const name = lookup(PRCTL_OPTIONS, option);
  const opt = xval(option, PRCTL_OPTIONS, 'PR_');
  switch (name) {
    case 'PR_SET_NO_NEW_PRIVS':
    case 'PR_GET_NO_NEW_PRIVS':
      return [opt, c.ulong(1), c.hex(2), c.hex(3), c.hex(4)];
    case 'PR_CAPBSET_DROP':
    case 'PR_CAPBSET_READ':
      return [opt, cap(c, 1)];
    case 'PR_CAP_AMBIENT': {
      const op = lookup(PR_CAP_AMBIENT_OPS, uint32(c.arg(1)));
      const opText = xval(uint32(c.arg(1)), PR_CAP_AMBIENT_OPS, 'PR_CAP_AMBIENT_');
      if (op === 'PR_CAP_AMBIENT_RAISE' || op === 'PR_CAP_AMBIENT_LOWER' || op === 'PR_CAP_AMBIENT_IS_SET') {
        return [opt, opText, cap(c, 2), c.hex(3), c.hex(4)];
      }
      return [opt, opText, c.hex(2), c.hex(3), c.hex(4)];
    }
    case 'PR_SET_PDEATHSIG':
      return [opt, signame(c.arg(1))];
    case 'PR_SET_DUMPABLE':
      return [opt, xval(uint32(c.arg(1)), SUID_DUMP, 'SUID_DUMP_')];
    case 'PR_SET_SECUREBITS':
      return [opt, c.flags(1, SECUREBITS, 'SECBIT_')];
    case 'PR_SET_KEEPCAPS':
    case 'PR_SET_CHILD_SUBREAPER':
    case 'PR_SET_TIMERSLACK':
    case 'PR_SET_THP_DISABLE':
    case 'PR_SET_IO_FLUSHER':
      return [opt, c.ulong(1)];
    case 'PR_SET_SECCOMP': {
      const mode = xval(uint32(c.arg(1)), SECCOMP_MODES, 'SECCOMP_MODE_');
      return mode === 'SECCOMP_MODE_FILTER' ? [opt, mode, c.ptr(2)] : [opt, mode];
    }
    case 'PR_SET_NAME':
    case 'PR_GET_NAME':
    case 'PR_GET_PDEATHSIG':
    case 'PR_GET_CHILD_SUBREAPER':
    case 'PR_GET_TID_ADDRESS':
      return [opt, c.ptr(1)];
    case 'PR_GET_DUMPABLE':
    case 'PR_GET_KEEPCAPS':
    case 'PR_GET_SECUREBITS':
    case 'PR_GET_SECCOMP':
    case 'PR_GET_TIMERSLACK':
    case 'PR_GET_THP_DISABLE':
    case 'PR_GET_IO_FLUSHER':
      return [opt];
    default:
      return [opt, c.hex(1), c.hex(2), c.hex(3), c.hex(4)];
  }
}

function seccomp(c: Call): string[] {
  const op = uint32(c.arg(0));
  const name = lookup(SECCOMP_OPS, op);
  const flagsText =
    name === 'SECCOMP_SET_MODE_FILTER'
      ? c.flags(1, SECCOMP_FILTER_FLAGS, 'SECCOMP_FILTER_FLAG_')
      : name === 'SECCOMP_GET_ACTION_AVAIL' || name === 'SECCOMP_GET_NOTIF_SIZES'
        ? c.uint(1)
        : hex(uint32(c.arg(1)));
  return [xval(op, SECCOMP_OPS, 'SECCOMP_SET_MODE_'), flagsText, c.ptr(2)];
}

/** bpf(cmd, attr, size): the command by name; the attr union stays a pointer. */
function bpf(c: Call): string[] {
  return [xval(uint32(c.arg(0)), BPF_CMDS, 'BPF_'), c.ptr(1), c.uint(2)];
}

export const credsDecoders: Record<string, Decoder> = {
  bpf,
  capset: (c) => [c.ptr(0), capData(c, 1)],
  capget: (c) => [c.ptr(0), c.ptr(1)],
  prctl,
  seccomp,
};
