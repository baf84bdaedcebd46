// The component path: `jco transpile` of target/sigil.wasm (built by
// scripts/build-component from plugin/component) runs in Node and gives the
// same answers as the wasm-bindgen build, call for call.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, SigilError, builtinRules } from '../lib/node.js';
import { files, root } from './paths.js';

const OUT = fileURLToPath(new URL('./.jco/', import.meta.url));
let component;

before(async () => {
  rmSync(OUT, { recursive: true, force: true });
  const jco = fileURLToPath(new URL('../node_modules/.bin/jco', import.meta.url));
  execFileSync(jco, ['transpile', join(root, 'target/sigil.wasm'), '-o', OUT, '--name', 'sigil', '--quiet']);
  component = await import(join(OUT, 'sigil.js'));
});

/** The WIT options' defaults: a component takes every field. */
const DEFAULTS = {
  minScore: 0, matchedOnly: false, skipInvalid: false, maxEventBytes: 1 << 20, maxDepth: 64,
  maxRules: 10000, maxRegexBytes: 1 << 20, placeholders: [], correlationLatenessMs: 60000,
  maxGroups: 100000, maxEventsPerGroup: 64, maxCorrelationBytes: 64 << 20,
};

/** A value as plain JSON data: bigints as numbers, `undefined` members and the package's `message` texts left out. */
function plain(v) {
  return JSON.parse(JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? Number(x) : k === 'message' ? undefined : x)));
}

/** The events of a corpus file as NDJSON blocks of about 1 MiB (a Records file split as JSON). */
function blocks(file) {
  const text = readFileSync(file, 'utf8');
  const t = text.trimStart();
  let lines;
  if (t.startsWith('[') || t.startsWith('{"Records"') || t.startsWith('{\n')) {
    const doc = JSON.parse(text);
    lines = (Array.isArray(doc) ? doc : doc.Records).map((e) => JSON.stringify(e));
  } else {
    lines = text.split('\n');
  }
  const out = [];
  for (let i = 0; i < lines.length; i += 2000) out.push(lines.slice(i, i + 2000).join('\n'));
  return out;
}

function pair(rules, options = {}) {
  return {
    js: Engine.load(rules, options),
    wc: component.detector.Engine.load(rules, { ...DEFAULTS, ...options }),
  };
}

const corpus = [
  ...files('tests/data/corpora/stratus-detonation-logs'),
  ...files('tests/data/atomic', ['.ndjson']),
  ...files('tests/data/correlation', ['.ndjson']),
];

function sigmaHq() {
  const dir = join(root, 'tests/data/rules/sigmahq-cloud');
  return readdirSync(dir, { recursive: true })
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => ({ name: f, text: readFileSync(join(dir, f), 'utf8') }));
}

test('the same rule table, batches, alerts and stats: built-in and SigmaHQ packs', () => {
  for (const rules of [builtinRules(), sigmaHq()]) {
    const { js, wc } = pair(rules);
    assert.deepEqual(plain(js.rules()), plain(wc.rules()));
    assert.deepEqual(plain(js.skipped()), plain(wc.skipped()));
    let matched = 0;
    for (const file of corpus) {
      for (const block of blocks(file)) {
        const bytes = new TextEncoder().encode(block);
        const a = plain(js.evaluateBatch(bytes));
        assert.deepEqual(a, plain(wc.evaluateBatch(bytes)), file);
        matched += a.entries.length;
      }
    }
    assert.ok(matched > 50, `only ${matched} matches`);
    assert.deepEqual(plain(js.flush()), plain(wc.flush()));
    assert.deepEqual(plain(js.correlationStats()), plain(wc.correlationStats()));
  }
});

test('the same verdicts one event at a time, and the same alerts through take-alerts and advance', () => {
  const { js, wc } = pair(builtinRules());
  const file = join(root, 'tests/data/corpora/stratus-detonation-logs/aws.execution.ec2-user-data.json');
  let alerts = 0;
  for (const line of blocks(file).join('\n').split('\n')) {
    const bytes = new TextEncoder().encode(line);
    assert.deepEqual(plain(js.evaluate(bytes)), plain(wc.evaluate(bytes)));
    const [a, b] = [plain(js.takeAlerts()), plain(wc.takeAlerts())];
    assert.deepEqual(a, b);
    alerts += a.length;
  }
  const far = Date.parse('2100-01-01');
  const [a, b] = [plain(js.advance(far)), plain(wc.advance(BigInt(far)))];
  assert.deepEqual(a, b);
  assert.ok(alerts + a.length >= 1);
});

test('the same errors: load-error and event-error cases and payloads', () => {
  const bad = [{ name: 'bad.yml', text: 'title: x\ndetection: {}\n' }];
  const caught = (fn) => {
    try {
      fn();
    } catch (e) {
      return e;
    }
    assert.fail('no error');
  };
  for (const [rules, options] of [[bad, {}], [[], {}], [builtinRules(), { maxRules: 1 }]]) {
    const a = caught(() => Engine.load(rules, options));
    const b = caught(() => component.detector.Engine.load(rules, { ...DEFAULTS, ...options }));
    assert.ok(a instanceof SigilError);
    assert.deepEqual({ tag: a.case, val: plain(a.payload) }, plain(b.payload));
  }
  const { js, wc } = pair(builtinRules());
  const event = new TextEncoder().encode('{"eventName":');
  const a = caught(() => js.evaluate(event));
  const b = caught(() => wc.evaluate(event));
  assert.deepEqual({ tag: a.case, val: a.payload }, plain(b.payload));
});
