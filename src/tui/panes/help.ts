// ? : every key, in a box over the screen; any key closes it.
import blessed from 'blessed';
import type { Theme } from '../theme.js';

export const HELP = `Stages
  n, space   step: run to the next stage and pause there
  c          continue: run to the end (live) / play to the end (replay)
  b          toggle a breakpoint on the selected stage
  s          open a shell in the half-built container (live, at a pause)
Panes
  Tab, S-Tab next / previous pane     1-6  Stages Lesson Syscalls
  ↑ ↓ j k    move or scroll              Namespaces cgroup Filesystem
  PgUp PgDn  scroll a page   Home End  top / bottom
  mouse      click a pane, a tab or a stage; wheel to scroll
Syscalls
  /          filter: syscall names, stage ids, stage:ID, name:NAME,
             err (errors only); other words are searched for
  e          errors only on / off        f  follow (auto-scroll) on / off
Replay
  p          play / pause                ← →  previous / next stage
  , .        one event back / forward    g G  start / end
  + -        faster / slower             Enter  jump to the selected stage
q, Ctrl-C    quit`;

export function helpBox(theme: Theme): blessed.Widgets.BoxElement {
  return blessed.box({
    top: 'center',
    left: 'center',
    width: 74,
    height: HELP.split('\n').length + 2,
    label: ' Keys (any key closes) ',
    border: { type: 'line' },
    content: HELP,
    tags: false,
    hidden: true,
    style: { border: { fg: theme.fg('cyan') } },
  });
}
