// For tests that run glassbox as user nobody (replay needs no root): the
// package must be reachable by others. A checkout under a private directory
// (mktemp -d makes 0700 ones) is not; for the test's time, give "others" the
// search bit on the ancestors that lack it, and put every mode back after.
import * as fs from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';

export function reachableByNobody(t: Test, dir: string): void {
  const changed: [string, number][] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const mode = fs.statSync(d).mode & 0o7777;
    if ((mode & 0o001) === 0) {
      fs.chmodSync(d, mode | 0o001);
      changed.push([d, mode]);
    }
    if (d === path.dirname(d)) break;
  }
  t.teardown(() => {
    for (const [d, mode] of changed) fs.chmodSync(d, mode);
  });
}
