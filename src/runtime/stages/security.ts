// What stands between the container's root and the host's: runc's masked
// and read-only paths, docker's default capabilities (the rest dropped from
// the bounding set, so no exec regains them), the image's user.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Stage } from '../stage.js';
import type { BatchItem } from '../helper/protocol.js';
import { CLONE_NS_MASK, DENIED, NOT_IMPLEMENTED, seccompProfile } from '../seccomp.js';
import { syscallNumber, traceArch } from '../../trace/syscalls/index.js';

/** Docker's default capability set (moby oci/caps/defaults.go). */
export const DOCKER_DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Kernel files that tell about or act on the host: hidden (runc's and docker's default spec). */
export const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Kernel files a container may read but must not write. */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export const securityStage: Stage = {
  id: 'security',
  title: 'Drop privileges',
  describe: (ctx) =>
    `mask ${MASKED_PATHS.length} paths, make ${READONLY_PATHS.length} read-only${ctx.options.seccomp === false ? '' : ', filter syscalls (seccomp)'}, keep ${DOCKER_DEFAULT_CAPS.length} capabilities, run as ${ctx.options.user ?? (ctx.image?.config.config?.User || 'root')}`,
  async run(ctx) {
    const h = ctx.helper!;
    // One round trip each for the paths, and for the steps that end the stage.
    await h.batch([...MASKED_PATHS.map((path): BatchItem => ({ cmd: 'mask', path })), ...READONLY_PATHS.map((path): BatchItem => ({ cmd: 'readonly', path }))]);
    const spec = ctx.options.user ?? ctx.image!.config.config?.User ?? '';
    const user = spec ? await h.call('resolve_user', { spec }) : { uid: 0, gid: 0, groups: [] as number[], home: '/root' };
    ctx.user = user;
    // config.json said root until now: the user is known only inside the container's /etc/passwd.
    const cfgPath = join(ctx.dirs!.root, 'config.json');
    const oci = JSON.parse(fs.readFileSync(cfgPath, 'utf8')) as {
      process: { user: unknown; noNewPrivileges?: boolean; rlimits?: unknown };
      linux?: { seccomp?: unknown };
    };
    oci.process.user = { uid: user.uid, gid: user.gid, additionalGids: user.groups };
    oci.process.noNewPrivileges = Boolean(ctx.options.noNewPrivileges);
    const rlimits = ctx.options.rlimits ?? [];
    if (rlimits.length) oci.process.rlimits = rlimits;
    const filter = ctx.options.seccomp === false ? undefined : seccompProfile();
    if (filter) {
      oci.linux = {
        ...oci.linux,
        seccomp: {
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [
            { names: DENIED.filter((n) => syscallNumber(traceArch(), n) !== undefined), action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
            { names: [...NOT_IMPLEMENTED], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
            { names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: CLONE_NS_MASK, op: 'SCMP_CMP_MASKED_EQ', valueTwo: 0, note: 'any namespace flag' }] },
          ],
        },
      };
    }
    fs.writeFileSync(cfgPath, JSON.stringify(oci, null, 2) + '\n');
    const steps: BatchItem[] = [];
    if (rlimits.length) steps.push({ cmd: 'rlimits', limits: rlimits });
    if (ctx.options.noNewPrivileges) steps.push({ cmd: 'no_new_privs' });
    // Before the capabilities go: without no_new_privs, installing a filter takes CAP_SYS_ADMIN (runc's order too).
    if (filter) steps.push({ cmd: 'seccomp', ...filter });
    steps.push({ cmd: 'capabilities', keep: DOCKER_DEFAULT_CAPS });
    // After the capabilities: a user other than root loses them at setuid, as with docker.
    steps.push({ cmd: 'user', uid: user.uid, gid: user.gid, groups: user.groups });
    await h.batch(steps);
  },
};
