// Every namespace type, the host's inode beside the container's; those the
// stage in view made are highlighted, the others the container has of its
// own are marked. Then the processes and interfaces the snapshot saw.
import blessed from 'blessed';
import { fit, pad, wrap } from '../format.js';
import { inner, paneBox, setLabel, type Pane, type PaneContext } from './pane.js';

const TYPES = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'pid_for_children', 'time', 'user', 'uts'];

function inode(link: string): string {
  return /\[(\d+)\]/.exec(link)?.[1] ?? (link || '-');
}

export class NamespacesPane implements Pane {
  readonly id = 'namespaces' as const;
  readonly box;
  constructor() {
    this.box = paneBox(blessed, 'Namespaces');
  }

  update({ model, ui, theme }: PaneContext): void {
    const { width } = inner(this.box);
    const view = model.stages[ui.selected]?.id;
    const snap = model.snapshot;
    setLabel(this.box, snap ? `Namespaces (at ${snap.stage}${snap.pid ? `, pid ${snap.pid}` : ''})` : 'Namespaces', ui.focus === 'namespaces', theme);
    const typeW = 10;
    const numW = 12;
    const lines = [theme.dim(fit(`${pad('type', typeW)} ${pad('host', numW)} ${pad('container', numW)} made by`, width))];
    const rows = model.namespaces.length ? model.namespaces : TYPES.filter((t) => t !== 'time').map((type) => ({ type, host: '', container: '', changed: false, by: undefined as string | undefined }));
    const order = [...rows].sort((a, b) => TYPES.indexOf(a.type) - TYPES.indexOf(b.type));
    for (const n of order) {
      const type = pad(n.type === 'pid_for_children' ? 'pid(child)' : n.type, typeW);
      const host = pad(inode(n.host), numW);
      const cont = pad(n.container ? (n.changed ? inode(n.container) : 'same') : '-', numW);
      const by = n.changed ? (n.by ?? 'new') : '';
      const plain = fit(`${type} ${host} ${cont} ${by}`, width);
      if (n.changed && n.by && n.by === view) lines.push(theme.color ? theme.c.black.bgYellow(pad(plain, width)) : theme.inverse(pad(plain, width)));
      else if (n.changed) lines.push(theme.ok(plain));
      else lines.push(n.container ? plain : theme.dim(plain));
    }
    if (!snap) {
      lines.push('');
      for (const l of wrap(theme.dim('The container\'s side is read at each pause (a snapshot): step with breakpoints to see it fill in.'), width)) lines.push(l);
    } else {
      lines.push('');
      // --userns: who the container's IDs are on the host.
      if (snap.idMaps) for (const l of wrap(`uid_map ${snap.idMaps.uid.join('; ')}   gid_map ${snap.idMaps.gid.join('; ')} (inside outside count)`, width)) lines.push(l);
      const procs = snap.processes.map((p) => `${p.pid} ${p.comm}`).join(', ') || '(none)';
      for (const l of wrap(`processes: ${procs}`, width)) lines.push(l);
      for (const l of wrap(`interfaces: ${snap.interfaces.join(', ') || '(none visible)'}`, width)) lines.push(l);
    }
    this.box.setContent(lines.join('\n'));
  }
}
