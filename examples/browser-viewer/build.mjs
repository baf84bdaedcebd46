// Assembles the static site in dist/: the page (src/) and the package
// (js/lib/ and js/pkg/, built by scripts/build-js) under dist/sigil/. No
// bundler: the page, its worker and the package are plain ES modules.
import { cpSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const wasm = here('../../js/pkg/sigil_bg.wasm');
if (!existsSync(wasm)) throw new Error(`${wasm} is missing: run scripts/build-js first`);
rmSync(here('dist'), { recursive: true, force: true });
mkdirSync(here('dist/sigil/pkg'), { recursive: true });
cpSync(here('src'), here('dist'), { recursive: true });
cpSync(here('../../js/lib'), here('dist/sigil/lib'), { recursive: true });
for (const f of ['sigil.js', 'sigil_bg.wasm']) cpSync(here(`../../js/pkg/${f}`), here(`dist/sigil/pkg/${f}`));
console.log(`built ${here('dist')}: serve it with \`python3 -m http.server -d ${here('dist')} 8000\``);
