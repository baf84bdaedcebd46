// The benchmark input of BENCHMARKS.md: the 35 Stratus Red Team captures
// (sorted by name, each event minified onto one line) repeated to about
// 100 MB. Written to a file once so that every runner (Node, Chromium,
// `sigil run --native`, the component in wasmtime) reads the same bytes.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** Copies of the corpus: 253 × 415 712 bytes = 105.2 MB (100.3 MiB), as in BENCHMARKS.md. */
export const COPIES = 253;
export const SHA256 = '14874dffeb2bd79b4ec59f4a56a9fcce454eab7be953b12136392b64156a7f00';

/**
 * The events of a JSON array document, each minified onto one line as
 * `sigil_engine::input::minify_into` does (whitespace between tokens
 * dropped, strings copied as they are), not re-serialised.
 */
function arrayLines(doc) {
  const out = [];
  let depth = 0, inString = false, escaped = false;
  let line = [];
  for (let i = 0; i < doc.length; i++) {
    const b = doc[i];
    if (inString) {
      line.push(b);
      if (escaped) escaped = false;
      else if (b === 0x5c) escaped = true;
      else if (b === 0x22) inString = false;
      continue;
    }
    if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
    if (b === 0x5b || b === 0x7b) depth++;
    if (depth >= 2) line.push(b);
    if (b === 0x22) inString = true;
    if (b === 0x5d || b === 0x7d) {
      depth--;
      if (depth === 1) {
        out.push(Buffer.from(line), Buffer.from('\n'));
        line = [];
      }
    }
  }
  return out;
}

/** One copy of the corpus as NDJSON. */
export function corpusOnce() {
  const dir = join(root, 'tests/data/corpora/stratus-detonation-logs');
  const parts = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    parts.push(...arrayLines(readFileSync(join(dir, f))));
  }
  const once = Buffer.concat(parts);
  const sha = createHash('sha256').update(once).digest('hex');
  if (sha !== SHA256) throw new Error(`the corpus copy hashes to ${sha}, not ${SHA256}`);
  return once;
}

/** Writes the repeated corpus to `path` (once) and returns its path. */
export function corpusFile(path = join(root, 'target/bench-stratus-100mb.ndjson')) {
  if (!existsSync(path)) writeFileSync(path, Buffer.concat(Array(COPIES).fill(corpusOnce())));
  return path;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(corpusFile());
