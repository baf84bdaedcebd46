// Evaluation off the page's thread: the file is streamed into the
// package's Runner (the same framing and lines as `sigil run`), and the
// page gets small row summaries, alerts, errors and progress; whole events
// stay here until the page asks for one.
import { init, Engine, builtinRules } from './sigil/lib/web.js';

/** Output line of each event, by index; kept for the detail pane. */
let lines = [];
/** Field names each rule's detection reads, by rule id (from the rule texts). */
let fieldsByRule;
const decoder = new TextDecoder();

/** Field paths named in a rule's `detection:` block (keys below its search names). */
function detectionFields(text) {
  const out = new Set();
  let inDetection = false, searchIndent = -1;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) {
      inDetection = line.startsWith('detection:');
      searchIndent = -1;
      continue;
    }
    if (!inDetection) continue;
    const m = /^(\s*)(?:-\s+)?['"]?([A-Za-z0-9_.@#$-]+)(?:\|[^:'"]*)?['"]?\s*:/.exec(line);
    if (!m) continue;
    const indent = m[1].length;
    if (searchIndent < 0) searchIndent = indent;
    if (indent > searchIndent || line.trimStart().startsWith('-')) out.add(m[2]);
  }
  out.delete('condition');
  return [...out];
}

function ruleFields() {
  if (fieldsByRule) return fieldsByRule;
  fieldsByRule = new Map();
  for (const { text } of builtinRules()) {
    for (const doc of text.split(/^---\s*$/m)) {
      const id = /^id:\s*['"]?([^'"\s]+)/m.exec(doc)?.[1];
      if (id) fieldsByRule.set(id, detectionFields(doc));
    }
  }
  return fieldsByRule;
}

/** The summary the table shows for one output line. */
function row(i, line) {
  let event, sigil;
  try {
    event = JSON.parse(line);
    sigil = event.sigil;
  } catch {
    // A line that passed as it came (raw control bytes...): read its verdict only.
    const at = line.lastIndexOf(',"sigil":{');
    try {
      sigil = JSON.parse('{' + line.slice(at + 1)).sigil;
    } catch {
      sigil = { error: 'unreadable line' };
    }
    event = {};
  }
  const findings = sigil.findings ?? [];
  const top = findings.reduce((a, f) => (!a || f.score > a.score ? f : a), undefined);
  const labels = top?.labels ?? {};
  const tag = top?.tags.map((t) => /^attack\.(t\d{4}(?:\.\d{3})?)$/.exec(t)?.[1]).filter(Boolean).pop();
  const name = event.eventName ?? (typeof event.operationName === 'string' ? event.operationName : event.operationName?.value) ?? event.protoPayload?.methodName ?? '';
  const time = event.eventTime ?? event.time ?? event.timestamp ?? event.receiveTimestamp ?? '';
  return {
    i,
    time,
    // Parsed here, once: the page charts every row at each redraw.
    t: Date.parse(time),
    score: sigil.score ?? 0,
    level: sigil.level ?? (sigil.error ? 'error' : ''),
    technique: labels.technique ?? (tag ? tag.toUpperCase() : ''),
    rule: findings.map((f) => f.title).join('; '),
    name: String(name),
    source: sigil.source ?? event.eventSource ?? '',
    id: event.eventID ?? event.eventDataId ?? event.insertId ?? event.correlationId ?? '',
    error: sigil.error,
    raw: sigil.error ? (sigil.raw ?? line).slice(0, 300) : undefined,
  };
}

async function open(file) {
  const started = performance.now();
  await init();
  const engine = Engine.builtin();
  const runner = engine.runner();
  lines = [];
  let read = 0, batch = [], first = 0, lastPost = 0;
  const alerts = [];
  const take = (bytes) => {
    if (bytes.length === 0) return;
    for (const line of decoder.decode(bytes).split('\n')) {
      if (!line) continue;
      if (line.startsWith('{"sigil_alert":')) {
        const a = JSON.parse(line).sigil_alert;
        a.after = lines.length - 1;
        alerts.push(a);
        postMessage({ type: 'alert', alert: a });
        continue;
      }
      batch.push(row(lines.length, line));
      lines.push(line);
    }
    if (!first && batch.length) first = performance.now() - started;
  };
  const post = (force) => {
    const now = performance.now();
    if (!force && now - lastPost < 100) return;
    lastPost = now;
    postMessage({ type: 'rows', rows: batch, read, size: file.size, firstMs: first });
    batch = [];
  };
  postMessage({ type: 'start', name: file.name, size: file.size });
  const reader = file.stream().getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    read += value.length;
    take(runner.push(value));
    post(false);
  }
  try {
    take(runner.endInput());
  } catch (e) {
    postMessage({ type: 'fatal', message: `${file.name}: ${e.message}` });
  }
  take(runner.finish());
  post(true);
  const counters = runner.counters();
  runner.free();
  engine.free();
  postMessage({ type: 'done', counters, ms: performance.now() - started, firstMs: first, alerts: alerts.length });
}

onmessage = ({ data }) => {
  if (data.type === 'open') {
    open(data.file).catch((e) => postMessage({ type: 'fatal', message: String(e?.message ?? e) }));
  } else if (data.type === 'detail') {
    const line = lines[data.i];
    let parsed;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    const fields = new Set();
    for (const f of parsed?.sigil?.findings ?? []) for (const p of ruleFields().get(f.rule) ?? []) fields.add(p);
    postMessage({ type: 'detail', i: data.i, line, event: parsed, fields: [...fields] });
  }
};
