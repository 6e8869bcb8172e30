// The order of `glassbox run`, in one place: nothing else knows it.
import type { Stage } from '../stage.js';
import { cgroupStage } from './cgroup.js';
import { createStage } from './create.js';
import { nsCgroup, nsIpc, nsMnt, nsNet, nsPid, nsUser, nsUts } from './namespaces.js';
import { execStage, hostnameStage, runningStage } from './process.js';
import { pullStage } from './pull.js';
import { pivotStage, rootfsStage } from './rootfs.js';
import { securityStage } from './security.js';
import { spawnStage } from './spawn.js';

export const STAGES: readonly Stage[] = [
  pullStage,
  createStage,
  spawnStage,
  cgroupStage,
  nsUser,
  nsMnt,
  nsUts,
  nsIpc,
  nsNet,
  nsCgroup,
  nsPid,
  rootfsStage,
  pivotStage,
  hostnameStage,
  securityStage,
  execStage,
  runningStage,
];

export function stageIds(): string[] {
  return STAGES.map((s) => s.id);
}
