// What the end-to-end test and the benchmark share: a static server for
// dist/ (as `python3 -m http.server` would serve it) and Debian's Chromium.
import { createServer } from 'node:http';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };

/** Serves dist/, plus `extra` (URL path → file). Resolves to the server and its base URL. */
export async function serve(extra = {}) {
  const server = createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const path = normalize(url).replace(/^(\.\.[/\\])+/, '');
    const file = extra[url] ?? join(DIST, path.endsWith('/') ? `${path}index.html` : path);
    if (!(extra[url] || file.startsWith(DIST)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, base: `http://127.0.0.1:${server.address().port}/` };
}

/** Headless Chromium from /usr/bin/chromium (`npx playwright install` cannot download here). */
export function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}
