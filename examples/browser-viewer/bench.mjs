// Throughput in Chromium on the benchmark input of BENCHMARKS.md (the
// Stratus corpus repeated to 105.2 MB, js/bench/corpus.mjs), and the
// viewer's time to first result on it. By hand, after `npm run build`:
//
//   node bench.mjs [PASSES] [RULES_DIR]
//
// `evaluateBatch` runs over 1 MiB blocks cut at newlines, as in Node and as
// `sigil run` cuts a stream; the best of PASSES (default 3) is reported.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { corpusFile } from '../../js/bench/corpus.mjs';
import { launch, serve } from './test/browser.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const passes = Number(process.argv[2] ?? 3);
const rulesDir = process.argv[3];
const rules = rulesDir
  ? readdirSync(join(root, rulesDir), { recursive: true }).filter((f) => /\.ya?ml$/.test(f)).sort()
    .map((f) => ({ name: f, text: readFileSync(join(root, rulesDir, f), 'utf8') }))
  : null;
const input = corpusFile();
const { server, base } = await serve({ '/bench-input.ndjson': input });
const browser = await launch();
const page = await browser.newPage();
await page.goto(base);
const result = await page.evaluate(async ({ passes, rules }) => {
  const { init, Engine } = await import('./sigil/lib/web.js');
  await init();
  const bytes = new Uint8Array(await (await fetch('./bench-input.ndjson')).arrayBuffer());
  const blocks = [];
  for (let at = 0; at < bytes.length;) {
    let cut = Math.min(at + (1 << 20), bytes.length);
    if (cut < bytes.length) cut = bytes.lastIndexOf(10, cut - 1) + 1;
    blocks.push(bytes.subarray(at, cut));
    at = cut;
  }
  let t = performance.now();
  const engine = rules ? Engine.load(rules) : Engine.builtin();
  const loadMs = performance.now() - t;
  let best = Infinity, events = 0, matched = 0;
  for (let i = 0; i < passes; i++) {
    t = performance.now();
    events = 0;
    matched = 0;
    for (const b of blocks) {
      const r = engine.evaluateBatch(b);
      events += r.events;
      matched += r.entries.length;
    }
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return { bytes: bytes.length, events, matched, loadMs, seconds: best, userAgent: navigator.userAgent };
}, { passes, rules });
const mb = result.bytes / 1e6;
console.log(JSON.stringify({
  name: `chromium evaluateBatch (${rulesDir ?? 'built-in pack'})`, ...result, mb: +mb.toFixed(1),
  eventsPerSecond: Math.round(result.events / result.seconds), mbPerSecond: +(mb / result.seconds).toFixed(1),
}));

// The viewer on the same 105 MB file: first rows on screen, and the end.
const viewer = await browser.newPage();
await viewer.goto(base);
// The page's own thread must stay free while the worker evaluates: every
// task over 50 ms on it is recorded.
await viewer.evaluate(() => {
  window.longTasks = [];
  new PerformanceObserver((l) => window.longTasks.push(...l.getEntries().map((e) => e.duration))).observe({ entryTypes: ['longtask'] });
});
const t0 = Date.now();
await viewer.setInputFiles('#file', input);
await viewer.waitForSelector('#rows .row', { timeout: 120_000 });
const firstRowMs = Date.now() - t0;
await viewer.waitForSelector('body[data-state="done"]', { timeout: 600_000 });
const totalMs = Date.now() - t0;
// Responsive while it read: a filter applied on the loaded table answers at once.
const t1 = Date.now();
await viewer.$eval('#min-score', (e) => { e.value = '50'; e.dispatchEvent(new Event('input')); });
const filterMs = Date.now() - t1;
const t2 = Date.now();
await viewer.$eval('#min-score', (e) => { e.value = '0'; e.dispatchEvent(new Event('input')); });
const unfilterMs = Date.now() - t2;
const longTasks = await viewer.evaluate(() => window.longTasks);
console.log(JSON.stringify({ name: 'viewer on the 105 MB file', firstRowMs, totalMs, filterMs, unfilterMs,
  longTasks: longTasks.length, longestTaskMs: Math.round(Math.max(0, ...longTasks)), status: await viewer.textContent('#status'), count: await viewer.textContent('#count') }));
await browser.close();
server.close();
