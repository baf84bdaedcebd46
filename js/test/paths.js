// Where the tests find the repository's data and the native CLI.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const root = fileURLToPath(new URL('../../', import.meta.url));

/** `target/release/sigil`, which `cargo test --release --workspace` builds (scripts/test runs it first). */
export function sigilBinary() {
  const bin = join(root, 'target/release/sigil');
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: build it with \`cargo +1.99.1 build --release -p sigil-host\``);
  }
  return bin;
}

/** Files of `dir` (relative to the root) ending in one of `exts`, sorted, as absolute paths. */
export function files(dir, exts = ['.json', '.ndjson']) {
  return readdirSync(join(root, dir))
    .filter((f) => exts.some((e) => f.endsWith(e)))
    .sort()
    .map((f) => join(root, dir, f));
}
