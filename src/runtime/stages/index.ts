// The order of `glassbox run`, in one place: nothing else knows it.
import type { Stage } from '../stage.js';
import { createStage } from './create.js';
import { nsIpc, nsMnt, nsNet, nsPid, nsUts } from './namespaces.js';
import { execStage, hostnameStage, runningStage } from './process.js';
import { pullStage } from './pull.js';
import { pivotStage, rootfsStage } from './rootfs.js';
import { spawnStage } from './spawn.js';

export const STAGES: readonly Stage[] = [
  pullStage,
  createStage,
  spawnStage,
  nsMnt,
  nsUts,
  nsIpc,
  nsNet,
  nsPid,
  rootfsStage,
  pivotStage,
  hostnameStage,
  execStage,
  runningStage,
];

export function stageIds(): string[] {
  return STAGES.map((s) => s.id);
}
