// The viewer end to end in headless Chromium (Debian's, driven by
// playwright-core): a real Stratus capture in, the rules, scores and the
// stop-then-start alert out, filters, the detail pane, unreadable lines,
// and no request leaving the page's origin. Screenshots go to
// test/screenshots/ (and, with SIGIL_UPDATE_SCREENSHOT=1, the README's to
// screenshot.png).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, copyFileSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, serve } from './browser.js';
import { Engine } from '../../../js/lib/node.js';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const SHOTS = here('./screenshots/');
const CAPTURE = here('../../../tests/data/corpora/stratus-detonation-logs/aws.execution.ec2-user-data.json');

let server, browser, page, base;
const foreign = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  ({ server, base } = await serve());
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  page.on('pageerror', (e) => foreign.push(`page error: ${e.message}`));
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** Opens `file` in the page and waits until it has been evaluated. */
async function open(file) {
  await page.goto(base);
  await page.setInputFiles('#file', file);
  await page.waitForSelector('body[data-state="done"]', { timeout: 60_000 });
}

/** The rows the table shows: [#, time, score, level, technique, rule, event, source]. */
async function shown() {
  return page.$$eval('#rows .row', (rs) => rs.map((r) => [...r.children].map((c) => c.textContent)));
}

test('a Stratus capture: rules with their scores, filters, detail, the stop-then-start alert', async () => {
  await open(CAPTURE);
  assert.match(await page.textContent('#status'), /Done: 35 events, 3 matched, 0 errors, 1 alerts/);
  assert.equal(await page.textContent('#count'), '35 of 35 events');

  // Sort by score, highest first: the three findings lead, with their rules.
  await page.click('button[data-key="score"]');
  const top = (await shown()).slice(0, 4).map((r) => [r[2], r[3], r[4], r[5], r[6], r[7]]);
  assert.deepEqual(top[0], ['50', 'medium', 'T1578', 'AWS EC2 Instance User Data Modified', 'ModifyInstanceAttribute', 'aws.cloudtrail']);
  assert.deepEqual(top.slice(1, 3).sort(), [
    ['10', 'informational', 'T1578.004', 'AWS EC2 Instance Started', 'StartInstances', 'aws.cloudtrail'],
    ['10', 'informational', 'T1578.004', 'AWS EC2 Instance Stopped', 'StopInstances', 'aws.cloudtrail'],
  ]);
  assert.equal(top[3][0], '0');
  await page.screenshot({ path: join(SHOTS, '1-loaded.png') });

  // Filters: a score threshold, a technique, text.
  await page.$eval('#min-score', (e) => { e.value = '50'; e.dispatchEvent(new Event('input')); });
  assert.deepEqual((await shown()).map((r) => r[5]), ['AWS EC2 Instance User Data Modified']);
  await page.$eval('#min-score', (e) => { e.value = '10'; e.dispatchEvent(new Event('input')); });
  assert.equal((await shown()).length, 3);
  await page.selectOption('#technique', 'T1578.004');
  assert.deepEqual((await shown()).map((r) => r[6]).sort(), ['StartInstances', 'StopInstances']);
  await page.fill('#text', 'stopinstances');
  assert.deepEqual((await shown()).map((r) => r[5]), ['AWS EC2 Instance Stopped']);
  await page.screenshot({ path: join(SHOTS, '2-filtered.png') });

  // The detail pane: the finding, its labels, the alert it is part of, the
  // fields the rule names highlighted in the event.
  await page.click('#rows .row');
  await page.waitForSelector('#detail .finding');
  const detail = await page.textContent('#detail');
  assert.match(detail, /AWS EC2 Instance Stopped/);
  assert.match(detail, /1222b6a4-bff5-429a-93b2-37242dd836a7/);
  assert.match(detail, /technique: T1578\.004, stage: lifecycle/);
  assert.match(detail, /In alert: AWS EC2 Instance Stopped Then Started \(Ephemeral Storage Reset\)/);
  assert.match(detail, /"eventName": "StopInstances"/);
  const read = await page.$$eval('#detail .read', (s) => s.map((x) => x.textContent));
  assert.ok(read.includes('"eventName"') && read.includes('"eventSource"'), read.join());
  await page.screenshot({ path: join(SHOTS, '3-detail.png') });

  // The alert, in its own list, linked to its two events.
  await page.fill('#text', '');
  await page.selectOption('#technique', '');
  await page.$eval('#min-score', (e) => { e.value = '0'; e.dispatchEvent(new Event('input')); });
  const alertText = await page.textContent('#alerts');
  assert.match(alertText, /AWS EC2 Instance Stopped Then Started \(Ephemeral Storage Reset\) \(medium, score 50\)/);
  assert.match(alertText, /2024-08-01T12:03:30Z → 2024-08-01T12:04:19Z; requestParameters\.instancesSet\.items\.instanceId = i-DDd6c7B0e18F0E35f; 2 events/);
  await page.click('#alerts li');
  const linked = await shown();
  assert.deepEqual(linked.map((r) => r[6]).sort(), ['StartInstances', 'StopInstances']);
  await page.click('#rows .row');
  await page.waitForSelector('#detail .finding');
  await page.screenshot({ path: join(SHOTS, '4-alert.png') });
  // The README's picture, when asked for (a test run leaves the tree clean).
  if (process.env.SIGIL_UPDATE_SCREENSHOT) copyFileSync(join(SHOTS, '4-alert.png'), here('../screenshot.png'));
  assert.deepEqual(foreign, []);
});

test('NDJSON with unreadable lines: each is listed, none is lost', async () => {
  const file = join(SHOTS, 'hostile.ndjson');
  const good = JSON.stringify({ eventSource: 'ec2.amazonaws.com', eventName: 'StopInstances', eventTime: '2024-08-01T12:00:00Z', eventID: 'e1' });
  writeFileSync(file, [good, 'not json', '{"eventName":', '', '[1,2]', good.replace('e1', 'e2')].join('\n'));
  await open(file);
  assert.match(await page.textContent('#status'), /Done: 5 events, 2 matched, 3 errors/);
  const errors = await page.$$eval('#errors li', (l) => l.map((x) => x.textContent));
  assert.equal(errors.length, 3);
  assert.match(errors[0], /event #2: invalid JSON/);
  assert.match(errors[0], /not json/);
  assert.match(errors[2], /\[1,2\]/);
  await page.screenshot({ path: join(SHOTS, '5-errors.png') });
  assert.deepEqual(foreign, []);
});

test('GCP audit and Azure Activity files: the table shows the engine\'s verdicts, row for row', async () => {
  for (const name of ['t1578_002_3_gcp_instance_insert.ndjson', 't1578_004_3_azure_disk_from_snapshot.ndjson']) {
    const file = here(`../../../tests/data/atomic/${name}`);
    // What the package computes in Node for the same file.
    const runner = Engine.builtin().runner();
    const out = Buffer.concat([runner.push(readFileSync(file)), runner.endInput(), runner.finish()]).toString();
    const want = out.split('\n').filter((l) => l && !l.startsWith('{"sigil_alert"')).map((l, i) => {
      const { sigil } = JSON.parse(l);
      return [String(i + 1), String(sigil.score), sigil.findings.map((f) => f.title).join('; '), sigil.source ?? ''];
    });
    await open(file);
    const got = (await shown()).map((r) => [r[0], r[2], r[5], r[7]]);
    assert.deepEqual(got.map((r) => [r[0], r[1], r[2]]), want.map((r) => [r[0], r[1], r[2]]), name);
    assert.ok(want.some((r) => Number(r[1]) >= 60), name);
  }
  assert.match((await shown()).map((r) => r[5]).join(), /Azure Managed Disk Restored From Snapshot or Backup/);
  assert.deepEqual(foreign, []);
});
