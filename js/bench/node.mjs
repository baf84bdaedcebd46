// Throughput of the package in Node on the benchmark input (bench/corpus.mjs):
// `evaluateBatch` over 1 MiB blocks cut at newlines (the fast path), and
// the `Runner` (what `sigil-js run` does: framing and the output lines).
//
//   node bench/node.mjs [PASSES] [RULES_DIR]
//
// PASSES defaults to 3 (the best pass is reported); RULES_DIR (e.g.
// tests/data/rules/sigmahq-cloud, relative to the repository) replaces the
// built-in pack.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../lib/node.js';
import { corpusFile } from './corpus.mjs';

const passes = Number(process.argv[2] ?? 3);
const input = readFileSync(corpusFile());
const blocks = [];
for (let at = 0; at < input.length;) {
  let cut = Math.min(at + (1 << 20), input.length);
  if (cut < input.length) cut = input.lastIndexOf(10, cut - 1) + 1;
  blocks.push(input.subarray(at, cut));
  at = cut;
}

function measure(name, pass) {
  let best = Infinity, events = 0;
  for (let i = 0; i < passes; i++) {
    const t = performance.now();
    events = pass();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  const mb = input.length / 1e6;
  console.log(JSON.stringify({ name, events, mb: +mb.toFixed(1), seconds: +best.toFixed(3), eventsPerSecond: Math.round(events / best), mbPerSecond: +(mb / best).toFixed(1) }));
}

const root = fileURLToPath(new URL('../../', import.meta.url));
const rulesDir = process.argv[3];
const pack = rulesDir ?? 'built-in pack';
const started = performance.now();
const engine = rulesDir
  ? Engine.load(readdirSync(join(root, rulesDir), { recursive: true })
    .filter((f) => /\.ya?ml$/.test(f)).sort()
    .map((f) => ({ name: f, text: readFileSync(join(root, rulesDir, f), 'utf8') })))
  : Engine.builtin();
console.error(`${pack} loaded in ${(performance.now() - started).toFixed(1)} ms`);
measure(`node evaluateBatch (${pack})`, () => {
  let events = 0;
  for (const b of blocks) events += engine.evaluateBatch(b).events;
  return events;
});
measure(`node Runner = sigil-js run (${pack})`, () => {
  const runner = engine.runner();
  let out = 0;
  for (const b of blocks) out += runner.push(b).length;
  out += runner.endInput().length + runner.finish().length;
  const n = runner.counters().eventsIn;
  runner.free();
  return n;
});
