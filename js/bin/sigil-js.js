#!/usr/bin/env node
// `sigil-js run`: `sigil run --native` in Node, byte for byte. The framing
// and the lines come from the same Rust crates as the CLI's (sigil-stream
// through the package's Runner); this file only reads files and writes
// stdout, as the CLI's own `run` does.
import { createReadStream, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, SigilError, builtinRules } from '../lib/node.js';

const USAGE = `usage: sigil-js run [--rules PATH]... [--add-rules PATH]... [--skip-invalid]
                    [--matched-only] [--min-score N] [--alerts-only]
                    [--placeholder NAME=VALUE[,VALUE...]]... [--lateness DURATION|end]
                    [--max-groups N] [--max-events-per-group N] [--max-correlation-bytes BYTES]
                    [INPUT]...

Evaluates NDJSON, JSON arrays or CloudTrail Records files (INPUT, or stdin for
none or "-") and writes each event with its verdict under "sigil", and
correlation alerts, as NDJSON: what \`sigil run --native\` writes.
Without --rules the built-in pack is used. --lateness (90s, 10m, 2h, or end:
correlation waits for the end of the input) defaults to end over files and
to the engine's 15 minutes over stdin, as for \`sigil run\`.`;

/** Milliseconds of a `--lateness` value (`end`: the engine's 4294967295), as `sigil run` reads it. */
function lateness(text) {
  const END = 0xffffffff;
  if (text.trim().toLowerCase() === 'end') return END;
  const m = /^(\d+)(ms|s|m|min|h)?$/.exec(text.trim());
  const scale = { undefined: 1, ms: 1, s: 1000, m: 60000, min: 60000, h: 3600000 };
  const ms = m ? Number(m[1]) * scale[m[2]] : NaN;
  if (!Number.isSafeInteger(ms) || ms >= END) {
    throw new Error(`\`${text}\` is not a lateness: write a duration such as 90s, 10m or 2h, or \`end\``);
  }
  return ms;
}

/** Rule files of a path as the CLI reads them: a file, or every *.yml/*.yaml below a directory, sorted by path components. */
function ruleSources(paths) {
  const out = [];
  for (const path of paths) {
    let files = [];
    if (statSync(path).isDirectory()) {
      const walk = (dir) => {
        for (const name of readdirSync(dir)) {
          const p = join(dir, name);
          if (statSync(p).isDirectory()) walk(p);
          else if (/\.ya?ml$/.test(name)) files.push(p);
        }
      };
      walk(path);
      // Rust sorts paths component by component, byte-wise.
      const key = (p) => p.split('/').map((c) => Buffer.from(c));
      files.sort((a, b) => {
        const [x, y] = [key(a), key(b)];
        for (let i = 0; i < Math.min(x.length, y.length); i++) {
          const c = Buffer.compare(x[i], y[i]);
          if (c !== 0) return c;
        }
        return x.length - y.length;
      });
    } else {
      files = [path];
    }
    for (const file of files) out.push({ name: file, text: readFileSync(file, 'utf8') });
  }
  return out;
}

function parse(argv) {
  const args = { rules: [], addRules: [], options: {}, alertsOnly: false, inputs: [] };
  // The flags that set one number of the engine's options, as `sigil run` names them.
  const numbers = {
    '--correlation-lateness-ms': 'correlationLatenessMs', '--max-groups': 'maxGroups',
    '--max-events-per-group': 'maxEventsPerGroup', '--max-correlation-bytes': 'maxCorrelationBytes',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value\n\n${USAGE}`);
      return argv[++i];
    };
    if (a === '--rules') args.rules.push(value());
    else if (a === '--add-rules') args.addRules.push(value());
    else if (a === '--skip-invalid') args.options.skipInvalid = true;
    else if (a === '--matched-only') args.options.matchedOnly = true;
    else if (a === '--alerts-only') args.alertsOnly = true;
    else if (a === '--lateness') args.options.correlationLatenessMs = lateness(value());
    else if (a === '--min-score') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0 || n > 100) throw new Error('--min-score takes a number from 0 to 100');
      args.options.minScore = n;
    } else if (a in numbers) {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`${a} takes a whole number from 0 to 4294967295`);
      args.options[numbers[a]] = n;
    } else if (a === '--placeholder') {
      // NAME=VALUE[,VALUE...], repeatable; values of one name add up.
      const flag = value();
      const at = flag.indexOf('=');
      if (at < 0) throw new Error(`--placeholder takes NAME=VALUE[,VALUE...], not \`${flag}\``);
      const [name, values] = [flag.slice(0, at), flag.slice(at + 1).split(',')];
      args.options.placeholders ??= [];
      const known = args.options.placeholders.find(([n]) => n === name);
      if (known) known[1].push(...values);
      else args.options.placeholders.push([name, values]);
    } else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (a.startsWith('--')) throw new Error(`unknown flag ${a}\n\n${USAGE}`);
    else args.inputs.push(a);
  }
  // Files end, so correlation can wait for their end (`sigil run`'s default).
  const finite = args.inputs.length > 0 && args.inputs.every((p) => p !== '-');
  if (finite) args.options.correlationLatenessMs ??= 0xffffffff;
  if (args.inputs.length === 0) args.inputs.push('-');
  return args;
}

/** Writes bytes to stdout, waiting when its buffer is full. */
function write(bytes) {
  if (bytes.length === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const ok = process.stdout.write(bytes, (e) => (e ? reject(e) : undefined));
    if (ok) resolve();
    else process.stdout.once('drain', resolve);
  });
}

async function run(argv) {
  const started = performance.now();
  const args = parse(argv);
  const sources = args.rules.length ? ruleSources(args.rules) : builtinRules();
  sources.push(...ruleSources(args.addRules));
  // Freed at exit with the process; `using` needs a newer Node than 20.
  const engine = Engine.load(sources, args.options);
  for (const e of engine.skipped()) console.error(`sigil-js: skipped ${e.source}:${e.line}: ${e.reason}`);
  const runner = engine.runner({ alertsOnly: args.alertsOnly });
  for (const path of args.inputs) {
    const stream = path === '-' ? process.stdin : createReadStream(path, { highWaterMark: 1 << 20 });
    for await (const chunk of stream) await write(runner.push(chunk));
    try {
      await write(runner.endInput());
    } catch (e) {
      if (e instanceof SigilError) throw new Error(`${path}: ${e.message}`);
      throw e;
    }
  }
  await write(runner.finish());
  const c = runner.counters();
  const secs = (performance.now() - started) / 1000;
  const warned = c.warned ? `, warned ${c.warned}` : '';
  // The correlation counters `sigil run` reports, under the same names.
  const stats = engine.correlationStats();
  let alerts = '';
  if (stats.correlations > 0) {
    alerts = `, alerts ${c.alerts}`;
    for (const [name, n] of [['late', stats.lateEvents], ['untimed', stats.untimedEvents], ['evicted groups', stats.evictedGroups],
      ['dropped matches', stats.droppedEntries], ['forced commits', stats.forcedCommits]]) {
      if (n > 0) alerts += `, ${name} ${n}`;
    }
  }
  console.error(`events in ${c.eventsIn}, out ${c.eventsOut}, matched ${c.matched}, errors ${c.errors}${warned}${alerts} (${secs.toFixed(3)} s, ${(c.bytesIn / 1e6 / secs).toFixed(1)} MB/s)`);
}

const [command, ...rest] = process.argv.slice(2);
if (command !== 'run') {
  console.error(command === undefined || command === '-h' || command === '--help' ? USAGE : `sigil-js: unknown command ${command}\n\n${USAGE}`);
  process.exit(command === '-h' || command === '--help' ? 0 : 2);
}
process.stdout.on('error', (e) => {
  // The reader went away (`sigil-js run ... | head`): end as a pipeline tool does.
  if (e.code === 'EPIPE') process.exit(141);
});
run(rest).catch((e) => {
  console.error(`sigil-js: ${e instanceof SigilError || e instanceof Error ? e.message : e}`);
  process.exit(2);
});
