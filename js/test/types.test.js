// index.d.ts compiles under `strict` and describes the API as used
// (test/types-check.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('index.d.ts type-checks a program that uses every function', () => {
  const tsc = fileURLToPath(new URL('../node_modules/.bin/tsc', import.meta.url));
  const file = fileURLToPath(new URL('./types-check.ts', import.meta.url));
  const r = spawnSync(tsc, ['--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext',
    '--moduleResolution', 'nodenext', '--lib', 'es2022,dom,esnext.disposable', file]);
  assert.equal(r.status, 0, r.stdout.toString() + r.stderr.toString());
});
