// Platforms as OCI names them (os/architecture/variant), and the choice of one
// manifest from an index the way containerd's default matcher makes it.
import { GlassboxError } from '../util/errors.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const NODE_TO_OCI_ARCH: Record<string, string> = {
  x64: 'amd64',
  ia32: '386',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

export function hostPlatform(): Platform {
  const architecture = NODE_TO_OCI_ARCH[process.arch] ?? process.arch;
  const p: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') {
    const v = (process.config.variables as Record<string, unknown>)['arm_version'];
    p.variant = `v${typeof v === 'string' || typeof v === 'number' ? v : '7'}`;
  }
  return p;
}

/** "linux/arm64/v8", "linux/amd64", or "arm64" (os defaults to linux). */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split('/');
  if (parts.some((p) => p === '') || parts.length > 3) {
    throw new GlassboxError(`invalid platform "${s}": expected os/arch[/variant]`, { op: 'platform', code: 'EINVAL' });
  }
  let p: Platform;
  if (parts.length === 1) p = { os: 'linux', architecture: parts[0]! };
  else p = { os: parts[0]!, architecture: parts[1]!, variant: parts[2] };
  return normalizePlatform(p);
}

export function normalizePlatform(p: Platform): Platform {
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase();
  if (architecture === 'x86_64' || architecture === 'x86-64') architecture = 'amd64';
  if (architecture === 'aarch64') architecture = 'arm64';
  if (architecture === 'arm64' && (variant === undefined || variant === '8')) variant = 'v8';
  if (architecture === 'armhf') [architecture, variant] = ['arm', 'v7'];
  if (architecture === 'armel') [architecture, variant] = ['arm', 'v6'];
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  const out: Platform = { os: p.os.toLowerCase(), architecture };
  if (variant) out.variant = variant;
  return out;
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/**
 * Whether an index entry's platform can run on the wanted one. arm64 images
 * without a variant are v8; an arm/v7 host also runs v6 and v5 images.
 */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  if (!w.variant || !h.variant) return true;
  if (w.architecture === 'arm') return Number(h.variant.slice(1)) <= Number(w.variant.slice(1));
  return w.variant === h.variant;
}

/** Rank of a match: exact variant first, older arm variants after. */
export function matchRank(want: Platform, have: Platform): number {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.variant === h.variant) return 0;
  if (w.architecture === 'arm' && w.variant && h.variant) return Number(w.variant.slice(1)) - Number(h.variant.slice(1));
  return 1;
}
