// bench/trace: the tracer's cost on a syscall-heavy busybox workload (a shell
// loop that forks cat thousands of times, about 100,000 syscalls), five ways
// in one run on the same machine: untraced, glassbox full, glassbox lesson
// mode, strace -f, strace -f --seccomp-bpf with the lesson's set. And what a
// recording costs on disk, gzipped, per syscall.
//
//   npm run bench:trace             (N = 5)
//   npm run bench:trace -- --runs 9
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot } from '../test/lib/fixtures.js';
import { LESSON_SYSCALLS, syscallNumber } from '../src/trace/syscalls/index.js';
import { traceArch } from '../src/trace/live.js';
import { ensureTools, median, runsArg, settle, timed, type Sample } from './lib.js';

const LOOPS = 3000;

async function main(): Promise<void> {
  ensureTools(['strace', 'busybox']);
  const runs = runsArg();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-bench-trace-'));
  const busybox = fs.existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox';
  const loop = `i=0; while [ $i -lt ${LOOPS} ]; do ${busybox} cat /etc/hostname > /dev/null; i=$((i+1)); done`;
  const program = [busybox, 'sh', '-c', loop];
  const direct = path.join(repoRoot(), 'dist/bench/tracedirect.js');
  const arch = traceArch();
  const lessonSet = LESSON_SYSCALLS.filter((n) => syscallNumber(arch, n) !== undefined).join(',');
  try {
    const ways: [string, () => Sample][] = [
      ['untraced', () => timed(program[0]!, program.slice(1))],
      ['glassbox full', () => timed(process.execPath, [direct, 'full', '--', ...program])],
      ['glassbox lesson', () => timed(process.execPath, [direct, 'lesson', '--', ...program])],
      ['strace -f', () => timed('strace', ['-f', '-qq', '-o', '/dev/null', ...program])],
      ['strace -f --seccomp-bpf', () => timed('strace', ['-f', '-qq', '--seccomp-bpf', '-e', `trace=${lessonSet}`, '-o', '/dev/null', ...program])],
    ];
    const results = new Map<string, Sample[]>(ways.map(([n]) => [n, []]));
    for (let i = 0; i < runs; i++) {
      for (const [name, fn] of ways) {
        settle(false);
        results.get(name)!.push(fn());
      }
    }
    // How many syscalls that is, and what recording them costs, gzipped.
    const file = path.join(work, 'loop.jsonl.gz');
    const rec = spawnSync(process.execPath, [direct, 'full', '--record', file, '--', ...program], { encoding: 'utf8' });
    const { calls, bytes } = JSON.parse(rec.stderr.trim().split('\n').pop()!) as { calls: number; bytes: number };
    const lfile = path.join(work, 'loop-lesson.jsonl.gz');
    const lrec = spawnSync(process.execPath, [direct, 'lesson', '--record', lfile, '--', ...program], { encoding: 'utf8' });
    const lesson = JSON.parse(lrec.stderr.trim().split('\n').pop()!) as { calls: number; bytes: number };

    console.log(`busybox sh loop forking cat ${LOOPS} times: ${calls} syscalls (${lesson.calls} in the lesson set); ${runs} runs each, median; ${os.cpus().length} cores`);
    console.log('\nway                        wall (ms)   peak RSS (MB)');
    const med = new Map<string, number>();
    for (const [name, samples] of results) {
      med.set(name, median(samples.map((s) => s.seconds)) * 1000);
      console.log(`${name.padEnd(25)}  ${med.get(name)!.toFixed(0).padStart(9)}   ${(Math.max(...samples.map((s) => s.maxRssKb)) / 1024).toFixed(0).padStart(13)}`);
    }
    const ratio = (a: string, b: string) => (med.get(a)! / med.get(b)!).toFixed(2);
    console.log(`\nglassbox full / strace -f = ${ratio('glassbox full', 'strace -f')}   (target: <= 1)`);
    console.log(`glassbox lesson / strace -f --seccomp-bpf = ${ratio('glassbox lesson', 'strace -f --seccomp-bpf')}   (target: <= 1)`);
    console.log(`recording, gzipped: ${(bytes / calls).toFixed(1)} bytes per syscall in full mode (${bytes} bytes)   (target: <= 40); lesson mode ${(lesson.bytes / Math.max(1, lesson.calls)).toFixed(1)}`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
