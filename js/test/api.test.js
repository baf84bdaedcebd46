// Every function of the package's API, its errors, and hostile input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Engine, Runner, SigilError, builtinRules, init } from '../lib/node.js';
import { root } from './paths.js';

const STOP = { eventVersion: '1.09', eventSource: 'ec2.amazonaws.com', eventName: 'StopInstances' };
const RULE = `title: EC2 instance stopped
id: 6a3a7d0e-0000-4000-8000-000000000001
level: low
tags: [attack.t1578.004]
logsource: {product: aws, service: cloudtrail}
detection:
    selection: {eventSource: ec2.amazonaws.com, eventName: StopInstances}
    condition: selection
`;

/** The SigilError `fn` throws. */
function thrown(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SigilError, `expected a SigilError, got ${e}`);
    assert.ok(e instanceof Error);
    return e;
  }
  assert.fail('expected a SigilError');
}

test('init resolves in Node', async () => {
  await init();
});

test('the built-in pack is rules/cloud-compute, shipped in the package', () => {
  const onDisk = [];
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(f)) onDisk.push(relative(root, p));
    }
  };
  walk(join(root, 'rules/cloud-compute'));
  const shipped = builtinRules();
  assert.deepEqual(shipped.map((r) => r.name).sort(), onDisk.sort());
  for (const r of shipped) assert.equal(r.text, readFileSync(join(root, r.name), 'utf8'));
  const engine = Engine.builtin();
  const titles = engine.rules().map((r) => r.title);
  assert.ok(titles.includes('AWS EC2 Instance Stopped'), titles.join());
  assert.ok(engine.correlationStats().correlations > 0);
});

test('evaluate takes an object, JSON text or bytes, and gives the WIT verdict', () => {
  const engine = Engine.builtin();
  const v = engine.evaluate(STOP);
  assert.equal(v.keep, true);
  assert.equal(v.score, 10);
  assert.equal(v.level, 'informational');
  assert.equal(v.source, 'aws-cloudtrail');
  assert.deepEqual(v.warnings, []);
  const rule = engine.rules()[v.findings[0].rule];
  assert.equal(rule.title, 'AWS EC2 Instance Stopped');
  assert.deepEqual(rule.tags, ['attack.defense-evasion', 'attack.t1578', 'attack.t1578.004']);
  assert.ok(rule.source.startsWith('rules/cloud-compute/') && rule.line >= 1);
  assert.deepEqual(v.findings[0].labels, [['technique', 'T1578.004'], ['stage', 'lifecycle']]);
  assert.deepEqual(engine.evaluate(JSON.stringify(STOP)), v);
  assert.deepEqual(engine.evaluate(new TextEncoder().encode(JSON.stringify(STOP))), v);
  const none = engine.evaluate({ eventSource: 's3.amazonaws.com', eventName: 'GetObject' });
  assert.equal(none.score, 0);
  assert.equal(none.level, undefined);
  assert.deepEqual(none.findings, []);
});

test('options are the WIT options, in camelCase; a typo is an error', () => {
  const engine = Engine.load(RULE, { matchedOnly: true, minScore: 20 });
  assert.equal(engine.evaluate(STOP).keep, true);
  assert.equal(engine.evaluate({ eventName: 'Other' }).keep, false);
  assert.equal(Engine.load(RULE, { minScore: 50 }).evaluate(STOP).keep, false);
  const e = thrown(() => Engine.load(RULE, { minscore: 1 }));
  assert.equal(e.case, 'other');
  assert.match(e.message, /unknown field `minscore`/);
});

test('load errors carry the WIT load-error case and payload', () => {
  let e = thrown(() => Engine.load([{ name: 'bad.yml', text: 'title: x\ndetection: {}\n' }]));
  assert.equal(e.case, 'invalid-rule');
  assert.equal(e.payload.source, 'bad.yml');
  assert.ok(e.payload.line >= 1);
  assert.match(e.message, /skip-invalid/);
  e = thrown(() => Engine.load([]));
  assert.equal(e.case, 'empty-pack');
  assert.deepEqual(e.payload, []);
  e = thrown(() => Engine.load([RULE, RULE.replace('0001', '0002')].map((text, i) => ({ name: `${i}.yml`, text })), { maxRules: 1 }));
  assert.equal(e.case, 'too-many-rules');
  assert.equal(e.payload, 1);
  const skipping = Engine.load([{ name: 'ok.yml', text: RULE }, { name: 'bad.yml', text: 'title: x\n' }], { skipInvalid: true });
  assert.equal(skipping.rules().length, 1);
  assert.equal(skipping.skipped()[0].source, 'bad.yml');
  e = thrown(() => Engine.load([{ name: 'x' }]));
  assert.equal(e.case, 'other');
});

test('event errors carry the WIT event-error case', () => {
  const engine = Engine.load(RULE);
  let e = thrown(() => engine.evaluate('{"eventName":'));
  assert.equal(e.case, 'invalid-json');
  assert.equal(typeof e.payload, 'string');
  // Over the size limit is a warning, not an error: the event is still judged.
  const big = Engine.load(RULE, { maxEventBytes: 10 }).evaluate(STOP);
  assert.deepEqual(big.warnings, [{ tag: 'truncated', val: JSON.stringify(STOP).length }]);
  e = thrown(() => engine.evaluate(42));
  assert.equal(e.case, 'other');
});

test('evaluateBatch: only matches and failures come back, never an exception', () => {
  const engine = Engine.load(RULE);
  const lines = [JSON.stringify(STOP), '', 'not json', '{"eventName":', '  ', JSON.stringify({ eventName: 'x' }), '{"a":"\u0000\udc00"}'];
  const block = lines.join('\n');
  const r = engine.evaluateBatch(block);
  assert.equal(r.events, 5);
  assert.equal(r.entries[0].index, 0);
  assert.equal(r.entries[0].outcome.tag, 'ok');
  assert.equal(r.entries[0].outcome.val.score, 30);
  const failed = r.entries.filter((e) => e.outcome.tag === 'err').map((e) => e.index);
  assert.ok(failed.includes(2), JSON.stringify(r));
  assert.deepEqual(engine.evaluateBatch(new TextEncoder().encode(block)), r);
  assert.deepEqual(engine.evaluateBatch(''), { events: 0, entries: [], alerts: [] });
});

test('correlation: advance, flush, takeAlerts and the stats', () => {
  const rule = readFileSync(join(root, 'tests/data/correlation/ephemeral_reset.yml'), 'utf8');
  const events = readFileSync(join(root, 'tests/data/correlation/ephemeral_reset.ndjson'), 'utf8');
  const engine = Engine.load([{ name: 'ephemeral_reset.yml', text: rule }]);
  const batch = engine.evaluateBatch(events);
  const alerts = [...batch.alerts.map((a) => a.alert), ...engine.flush()];
  assert.ok(alerts.length >= 1, JSON.stringify(batch));
  const a = alerts[0];
  assert.equal(engine.rules()[a.rule].title, 'EC2 instance stopped then started (ephemeral storage reset)');
  assert.equal(typeof a.windowStartMs, 'number');
  assert.ok(a.windowEndMs >= a.windowStartMs);
  assert.equal(a.group[0][0], 'requestParameters.instancesSet.items.instanceId');
  assert.ok(a.events.length >= 2);
  assert.equal(engine.correlationStats().alerts, alerts.length);
  assert.deepEqual(engine.flush(), []);
  // One event at a time: alerts wait for takeAlerts, or come from advance.
  const one = Engine.load([{ name: 'ephemeral_reset.yml', text: rule }]);
  for (const line of events.split('\n').filter((l) => l.trim())) one.evaluate(line);
  const late = [...one.takeAlerts(), ...one.advance(Date.parse('2100-01-01'))];
  assert.deepEqual(late, alerts);
  assert.deepEqual(one.takeAlerts(), []);
});

test('free and Symbol.dispose release the engine; use after free is an error', () => {
  const engine = Engine.load(RULE);
  engine[Symbol.dispose]();
  assert.equal(thrown(() => engine.evaluate(STOP)).case, 'other');
  engine.free();
  const runner = Engine.load(RULE).runner();
  runner.free();
  assert.equal(thrown(() => runner.push('{}')).case, 'other');
  assert.throws(() => new Engine({}), TypeError);
});

test('Runner: the same lines whatever the pieces, one line per input line on hostile bytes', () => {
  const engine = Engine.builtin();
  const input = readFileSync(join(root, 'tests/data/corpora/stratus-detonation-logs/aws.execution.ec2-user-data.json'));
  const whole = engine.runner();
  const a = Buffer.concat([whole.push(input), whole.endInput(), whole.finish()]);
  const pieces = Engine.builtin().runner();
  const parts = [];
  for (let i = 0; i < input.length; i += 777) parts.push(pieces.push(input.subarray(i, i + 777)));
  const b = Buffer.concat([...parts, pieces.endInput(), pieces.finish()]);
  assert.deepEqual(b, a);
  assert.match(a.toString(), /"sigil_alert":\{"rule":"a1a7a044/);
  assert.equal(whole.counters().eventsIn, pieces.counters().eventsIn);

  // Random bytes: every non-blank line comes out once, with its verdict
  // (lines no rule could match pass as they came, as the CLI's do).
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  const lines = [];
  for (let i = 0; i < 400; i++) {
    const n = rand() % 60 + 1;
    const bytes = Buffer.alloc(n, 0).map(() => rand());
    lines.push(Buffer.concat([Buffer.from(i % 3 ? '{"eventName":"' : ''), bytes.map((x) => (x === 10 ? 32 : x))]));
  }
  const hostile = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
  const runner = Engine.builtin().runner();
  const out = Buffer.concat([runner.push(hostile), runner.endInput(), runner.finish()]).toString();
  const outLines = out.split('\n').filter((l) => l);
  // Blank as Rust's `is_ascii_whitespace` counts it (not JavaScript's trim).
  const nonBlank = lines.filter((l) => !/^[ \t\n\f\r]*$/.test(l.toString('latin1'))).length;
  assert.equal(outLines.length, nonBlank);
  for (const l of outLines) assert.match(l, /"sigil":\{"(score|error)"/);
});

test('a broken document is a SigilError at the end of its input', () => {
  const runner = Engine.load(RULE).runner();
  runner.push('[{"eventName":"a"},');
  const e = thrown(() => runner.endInput());
  assert.equal(e.case, 'other');
  assert.match(e.message, /cannot split the document/);
});
