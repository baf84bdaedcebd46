// `sigil-js run` writes what `sigil run --native` writes: the same bytes,
// events and alert records, on every corpus file, one by one and all in
// one run (correlation windows span inputs), with the built-in pack and
// with other packs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { files, root, sigilBinary } from './paths.js';

const CLI = fileURLToPath(new URL('../bin/sigil-js.js', import.meta.url));
const MAX = 1 << 30;

function both(args, input) {
  const native = spawnSync(sigilBinary(), ['run', '--native', ...args], { cwd: root, input, maxBuffer: MAX });
  const js = spawnSync(process.execPath, [CLI, 'run', ...args], { cwd: root, input, maxBuffer: MAX });
  assert.equal(native.status, 0, native.stderr.toString());
  assert.equal(js.status, 0, js.stderr.toString());
  return { native: native.stdout, js: js.stdout };
}

function same(args, input) {
  const { native, js } = both(args, input);
  assert.ok(native.length > 0, `no output for ${args.join(' ')}`);
  if (!native.equals(js)) {
    const [n, j] = [native.toString().split('\n'), js.toString().split('\n')];
    const i = n.findIndex((line, k) => line !== j[k]);
    assert.fail(`${args.join(' ')}: line ${i + 1} differs\nnative: ${n[i]?.slice(0, 400)}\njs:     ${j[i]?.slice(0, 400)}`);
  }
  return native;
}

const stratus = files('tests/data/corpora/stratus-detonation-logs');
const atomic = files('tests/data/atomic', ['.ndjson']);
const correlation = files('tests/data/correlation', ['.ndjson']);
const edge = files('examples/data', ['.ndjson', '.json']);

test('every Stratus capture, file by file, built-in pack', () => {
  for (const f of stratus) same([f]);
});

test('all corpora in one run: built-in pack, SigmaHQ pack, correlation packs', () => {
  const all = [...stratus, ...atomic, ...correlation, ...edge];
  const out = same(all);
  assert.match(out.toString(), /"sigil_alert"/);
  same(['--rules', 'tests/data/rules/sigmahq-cloud', ...stratus]);
  same(['--rules', 'tests/data/correlation', '--alerts-only', ...stratus, ...correlation]);
  same(['--matched-only', '--min-score', '50', '--add-rules', 'rules/tuning', ...all]);
  same(['--correlation-lateness-ms', '0', '--max-groups', '2', '--max-events-per-group', '1', '--max-correlation-bytes', '4096', ...all]);
  // The lateness as `sigil run` reads it: `end` by default over files (above), a duration, and a stream's 15 minutes.
  same(['--lateness', '2m', ...all]);
  same(['-'], Buffer.concat(correlation.map((f) => readFileSync(f))));
  // `|expand` placeholders, given twice for one name.
  const dir = mkdtempSync(join(tmpdir(), 'sigil-js-'));
  writeFileSync(join(dir, 'admins.yml'), 'title: admin activity\nid: 0b7d1c5e-0000-4000-8000-00000000ad01\nlevel: high\n' +
    'logsource: {product: aws, service: cloudtrail}\ndetection:\n    s: {userIdentity.userName|expand: "%admins%"}\n    condition: s\n');
  const events = ['alice', 'bob', 'carol', 'dave'].map((u) => JSON.stringify({ eventSource: 'ec2.amazonaws.com', userIdentity: { userName: u } })).join('\n');
  const expanded = same(['--rules', join(dir, 'admins.yml'), '--placeholder', 'admins=alice,bob', '--placeholder', 'admins=carol', '-'], events);
  assert.equal(expanded.toString().split('"title":"admin activity"').length - 1, 3);
});

test('the atomic events, and hostile lines from stdin', () => {
  for (const f of atomic) same([f]);
  const hostile = Buffer.concat([
    Buffer.from('\xEF\xBB\xBF', 'latin1'),
    Buffer.from('{"eventSource":"ec2.amazonaws.com","eventName":"StopInstances","x":"\xff\xfe"}\n', 'latin1'),
    Buffer.from('not json at all\n\n  \r\n[1,2]\n{"a" 1}\n{"eventName":\n{}\n{"eventName":"StopInstances","eventSource":"ec2.amazonaws.com","eventName":"StartInstances"}\n'),
    Buffer.from(`{"eventSource":"ec2.amazonaws.com","eventName":"StopInstances","p":"${'x'.repeat(1 << 21)}"}\n`),
    Buffer.from('{"eventSource":"ec2.amazonaws.com","eventName":"StopInstances","d":' + '['.repeat(100) + ']'.repeat(100) + '}'),
  ]);
  same(['-'], hostile);
  // A document's framing, from stdin, with a byte-order mark.
  same(['-'], Buffer.concat([Buffer.from('\xEF\xBB\xBF', 'latin1'), Buffer.from('[{"eventSource":"ec2.amazonaws.com",\n "eventName":"StopInstances"}]')]));
});
