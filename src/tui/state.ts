// What the person at the keyboard has chosen: focus, selection, filter,
// scroll, breakpoints, the replay's position and speed. The panes read it;
// only the app (src/tui/app.ts) changes it.
import type { StreamFilter } from './model.js';

export type PaneId = 'stages' | 'lesson' | 'syscalls' | 'namespaces' | 'cgroup' | 'filesystem';

/** Tab order and number keys 1..6. */
export const PANES: readonly PaneId[] = ['stages', 'lesson', 'syscalls', 'namespaces', 'cgroup', 'filesystem'];

export const PANE_TITLES: Record<PaneId, string> = {
  stages: 'Stages',
  lesson: 'Lesson',
  syscalls: 'Syscalls',
  namespaces: 'Namespaces',
  cgroup: 'cgroup',
  filesystem: 'Filesystem',
};

export interface ReplayState {
  playing: boolean;
  /** Playing past every breakpoint (c). */
  continuing: boolean;
  speed: number;
  /** Events applied, of `length` loaded so far. */
  pos: number;
  length: number;
  loaded: boolean;
  /** Recorded time at the position, ms since the epoch; and the first event's. */
  t?: number;
  t0?: number;
}

export interface UiState {
  mode: 'live' | 'replay';
  /** Row of the stage list under the cursor; its lesson is shown. */
  selected: number;
  /** The selection follows the running stage until the person moves it. */
  selectionFollows: boolean;
  breakpoints: Set<string> | 'all';
  focus: PaneId;
  /** The pane shown in the tab area (narrow terminals). */
  tab: PaneId;
  filterText: string;
  filter: StreamFilter;
  /** The stream scrolls with new lines; off once the person scrolls up. */
  follow: boolean;
  /** Not following: the log index of the bottom line shown. */
  anchor: number;
  help: boolean;
  /** A line for the status bar, until the next key. */
  message?: string;
  /** Live: waiting at a pause for a key. */
  waiting?: { stage: string; about: string; id?: string };
  /** The program ended with this code. */
  finished?: number;
  /** Set by replayTui, which owns a player (startTui in replay mode is fed by someone else's). */
  replay?: ReplayState;
}

export function initialUi(mode: 'live' | 'replay', breakpoints: Set<string> | 'all' | undefined): UiState {
  return {
    mode,
    selected: 0,
    selectionFollows: true,
    breakpoints: breakpoints === 'all' ? 'all' : new Set(breakpoints ?? []),
    focus: 'lesson',
    tab: 'lesson',
    filterText: '',
    filter: {},
    follow: true,
    anchor: 0,
    help: false,
  };
}

export function hasBreakpoint(bp: Set<string> | 'all', stage: string): boolean {
  return bp === 'all' || bp.has(stage);
}
