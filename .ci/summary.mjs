// Reads tap's output and prints the closing line CI looks for.
import { readFileSync } from 'node:fs';

const text = readFileSync(process.argv[2], 'utf8');
const m = [...text.matchAll(/^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?(?:, todo: (\d+))?/gm)].pop();
if (!m) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const [, total, pass = '0', fail = '0', skip = '0'] = m;
const failed = Number(fail) + (Number(total) - Number(pass) - Number(fail) - Number(skip) - Number(m[5] ?? 0));
console.log(`${pass} passed, ${failed} failed${Number(skip) ? `, ${skip} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
