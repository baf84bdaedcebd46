// The page: a table of events (sortable, filtered), the detail of one, the
// alerts, the unreadable lines and a chart of scores over time. Evaluation
// runs in worker.js; this file only draws what it sends.
const $ = (id) => document.getElementById(id);
const ROW = 22;
const LEVELS = ['', 'informational', 'low', 'medium', 'high', 'critical', 'error'];

let worker;
let rows = [];
let view = [];
let alerts = [];
let errors = 0;
let sort = { key: 'i', dir: 1 };
let linked = null;
let selected = -1;
let dirty = false;

/** A byte count for people: MB from 1 MB up, KB below. */
function size(bytes) {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} KB`;
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function startWorker() {
  worker?.terminate();
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = ({ data }) => handlers[data.type](data);
}

const handlers = {
  start(d) {
    $('status').textContent = `Reading ${d.name} (${size(d.size)})…`;
    $('progress').hidden = false;
    $('progress').value = 0;
  },
  rows(d) {
    for (const r of d.rows) {
      rows.push(r);
      if (r.error) addError(r);
      if (r.technique && !techniques.has(r.technique)) addTechnique(r.technique);
    }
    $('progress').value = d.size ? d.read / d.size : 1;
    $('status').textContent = `Read ${size(d.read)} of ${size(d.size)}, ${rows.length} events` +
      (d.firstMs ? `; first result after ${Math.round(d.firstMs)} ms` : '');
    schedule();
  },
  alert(d) {
    alerts.push(d.alert);
    const a = d.alert;
    const li = document.createElement('li');
    li.className = `level-${a.level}`;
    li.innerHTML = `<b>${esc(a.title)}</b> (${esc(a.level)}, score ${a.score})<br>` +
      `${esc(a.window.start)} → ${esc(a.window.end)}; ${esc(Object.entries(a.group).map(([k, v]) => `${k} = ${v}`).join(', '))}; ` +
      `${a.events.length} events`;
    li.onclick = () => {
      document.querySelectorAll('#alerts li').forEach((x) => x.classList.remove('active'));
      li.classList.add('active');
      linked = new Set(a.events);
      $('clear-link').hidden = false;
      refresh();
    };
    $('alerts').append(li);
    $('alert-count').textContent = `(${alerts.length})`;
  },
  done(d) {
    const c = d.counters;
    $('progress').value = 1;
    $('status').textContent = `Done: ${c.eventsIn} events, ${c.matched} matched, ${c.errors} errors, ${c.alerts} alerts, ` +
      `${size(c.bytesIn)} in ${(d.ms / 1000).toFixed(2)} s; first result after ${Math.round(d.firstMs)} ms.`;
    document.body.dataset.state = 'done';
    refresh();
  },
  fatal(d) {
    $('status').textContent = `Cannot read the file: ${d.message}`;
    $('status').className = 'error';
  },
  detail(d) {
    const r = rows[d.i];
    const sigil = d.event?.sigil;
    let html = `<p><b>Event #${d.i + 1}</b> ${esc(r.name)} <span class="level-${esc(r.level)}">${esc(r.level || 'no match')}</span> score ${r.score}</p>`;
    if (sigil?.error) html += `<p class="error">${esc(sigil.error)}</p>`;
    for (const f of sigil?.findings ?? []) {
      html += `<div class="finding"><b>${esc(f.title)}</b> <span class="level-${f.level}">${f.level}</span> score ${f.score}<br>` +
        `<code>${esc(f.rule)}</code><br>${esc(f.tags.join(' '))}<br>${esc(Object.entries(f.labels).map(([k, v]) => `${k}: ${v}`).join(', '))}</div>`;
    }
    const related = alerts.filter((a) => r.id && a.events.includes(r.id));
    for (const a of related) html += `<p class="level-${a.level}">In alert: <b>${esc(a.title)}</b></p>`;
    if (d.fields.length) html += `<p>Highlighted: the fields the matching rules' detections name (${esc(d.fields.join(', '))}).</p>`;
    const event = d.event ? { ...d.event } : undefined;
    if (event) delete event.sigil;
    html += `<pre>${event ? pretty(event, '', new Set(d.fields), 0) : esc(d.line)}</pre>`;
    $('detail').innerHTML = html;
  },
};

/** Pretty JSON with the keys at the given paths highlighted (array positions are not part of a path, as in Sigma). */
function pretty(v, path, fields, depth) {
  const pad = '  '.repeat(depth + 1), end = '  '.repeat(depth);
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    return `[\n${v.map((x) => pad + pretty(x, path, fields, depth + 1)).join(',\n')}\n${end}]`;
  }
  if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    if (!keys.length) return '{}';
    return `{\n${keys.map((k) => {
      const p = path ? `${path}.${k}` : k;
      const key = esc(JSON.stringify(k));
      return `${pad}${fields.has(p) ? `<span class="read">${key}</span>` : key}: ${pretty(v[k], p, fields, depth + 1)}`;
    }).join(',\n')}\n${end}}`;
  }
  return esc(JSON.stringify(v));
}

const techniques = new Set();
function addTechnique(t) {
  techniques.add(t);
  const select = $('technique');
  const options = [...techniques].sort();
  select.length = 1;
  for (const o of options) select.add(new Option(o, o));
}

function addError(r) {
  errors++;
  if (errors > 500) return;
  const li = document.createElement('li');
  li.innerHTML = `<a href="#" data-i="${r.i}">event #${r.i + 1}</a>: <span class="error">${esc(r.error)}</span><br><code>${esc(r.raw)}</code>`;
  li.querySelector('a').onclick = (e) => {
    e.preventDefault();
    pick(r.i);
  };
  $('errors').append(li);
  $('error-count').textContent = `(${errors})`;
}

/**
 * Redraws at most every 300 ms while a file is read (after the first rows):
 * each redraw filters and charts every row so far, and the page's thread
 * must stay free.
 */
function schedule() {
  // The first rows are drawn at once: they are the answer to "did it work".
  if (view.length === 0) {
    refresh();
    return;
  }
  if (dirty) return;
  dirty = true;
  setTimeout(() => {
    dirty = false;
    refresh();
  }, 300);
}

function refresh() {
  const min = Number($('min-score').value);
  const technique = $('technique').value;
  const text = $('text').value.trim().toLowerCase();
  view = rows.filter((r) => r.score >= min &&
    (!technique || r.technique === technique) &&
    (!linked || linked.has(r.id)) &&
    (!text || `${r.name} ${r.rule} ${r.source} ${r.id} ${r.technique} ${r.time}`.toLowerCase().includes(text)));
  const { key, dir } = sort;
  if (key !== 'i' || dir !== 1) {
    const val = key === 'level' ? (r) => LEVELS.indexOf(r.level) : (r) => r[key];
    view.sort((a, b) => {
      const [x, y] = [val(a), val(b)];
      return (x < y ? -1 : x > y ? 1 : a.i - b.i) * dir;
    });
  }
  $('count').textContent = `${view.length} of ${rows.length} events`;
  $('spacer').style.height = `${view.length * ROW}px`;
  draw();
  chart();
}

/** Only the rows in sight are in the DOM. */
function draw() {
  const viewport = $('viewport');
  const from = Math.max(0, Math.floor(viewport.scrollTop / ROW) - 10);
  const to = Math.min(view.length, from + Math.ceil(viewport.clientHeight / ROW) + 20);
  const box = $('rows');
  box.style.top = `${from * ROW}px`;
  box.innerHTML = view.slice(from, to).map((r) =>
    `<div class="row${r.i === selected ? ' selected' : ''}${linked?.has(r.id) ? ' linked' : ''}" data-i="${r.i}" role="row">` +
    `<span>${r.i + 1}</span><span>${esc(r.time)}</span><span>${r.score}</span>` +
    `<span class="level-${esc(r.level)}">${esc(r.level)}</span><span>${esc(r.technique)}</span>` +
    `<span title="${esc(r.rule)}">${esc(r.rule || r.error || '')}</span><span>${esc(r.name)}</span><span>${esc(r.source)}</span></div>`).join('');
}

function pick(i) {
  selected = i;
  worker.postMessage({ type: 'detail', i });
  draw();
}

/**
 * Scores over event time, one dot per event in view, coloured by level.
 * Dots are written into the pixels directly: 80 000 canvas calls would
 * hold the page's thread for tens of milliseconds at every redraw.
 */
function chart() {
  const canvas = $('chart');
  const g = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height, pad = 24;
  let lo = Infinity, hi = -Infinity;
  for (const r of view) {
    if (r.t < lo) lo = r.t;
    if (r.t > hi) hi = r.t;
  }
  const image = g.createImageData(w, h);
  const px = new Uint32Array(image.data.buffer);
  // ABGR, as the pixels of a little-endian machine hold RGBA.
  const abgr = (hex) => 0xff000000 | (parseInt(hex.slice(5, 7), 16) << 16) | (parseInt(hex.slice(3, 5), 16) << 8) | parseInt(hex.slice(1, 3), 16);
  const colours = {
    informational: abgr('#2563eb'), low: abgr('#059669'), medium: abgr('#d97706'),
    high: abgr('#dc2626'), critical: abgr('#7f1d1d'),
  };
  const grey = abgr('#9ca3af');
  const span = Math.max(1, hi - lo);
  for (const r of view) {
    if (!(r.t >= lo)) continue;
    const x = Math.round(pad + ((r.t - lo) / span) * (w - pad - 8));
    const y = Math.round(h - pad - (r.score / 100) * (h - 2 * pad));
    const c = colours[r.level] ?? grey;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) px[(y + dy) * w + x + dx] = c;
  }
  g.putImageData(image, 0, 0);
  g.fillStyle = '#6b7280';
  g.font = '11px system-ui';
  g.fillText('score', 2, 12);
  g.fillText('100', 2, pad + 4);
  g.fillText('0', 2, h - pad + 4);
  g.strokeStyle = '#e5e7eb';
  g.beginPath();
  g.moveTo(pad, h - pad + 2);
  g.lineTo(w, h - pad + 2);
  g.stroke();
  if (lo > hi) return;
  g.fillText(new Date(lo).toISOString().slice(0, 19), pad, h - 6);
  g.fillText(new Date(hi).toISOString().slice(0, 19), w - 130, h - 6);
}

function openFile(file) {
  rows = [];
  view = [];
  alerts = [];
  errors = 0;
  linked = null;
  selected = -1;
  techniques.clear();
  $('technique').length = 1;
  for (const id of ['alerts', 'errors']) $(id).textContent = '';
  $('alert-count').textContent = $('error-count').textContent = '';
  $('detail').textContent = 'Pick a row.';
  $('status').className = '';
  delete document.body.dataset.state;
  startWorker();
  worker.postMessage({ type: 'open', file });
}

$('file').onchange = (e) => e.target.files[0] && openFile(e.target.files[0]);
const drop = $('drop');
drop.ondragover = (e) => {
  e.preventDefault();
  drop.classList.add('over');
};
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer.files[0]) openFile(e.dataTransfer.files[0]);
};
$('viewport').onscroll = draw;
$('rows').onclick = (e) => {
  const row = e.target.closest('.row');
  if (row) pick(Number(row.dataset.i));
};
$('min-score').oninput = () => {
  $('min-score-value').textContent = $('min-score').value;
  refresh();
};
$('technique').onchange = refresh;
$('text').oninput = refresh;
$('clear-link').onclick = () => {
  linked = null;
  $('clear-link').hidden = true;
  document.querySelectorAll('#alerts li').forEach((x) => x.classList.remove('active'));
  refresh();
};
document.querySelectorAll('.row.head button').forEach((b) => {
  b.onclick = () => {
    const key = b.dataset.key;
    sort = { key, dir: sort.key === key ? -sort.dir : key === 'score' || key === 'level' ? -1 : 1 };
    document.querySelectorAll('.row.head button').forEach((x) => x.classList.remove('asc', 'desc'));
    b.classList.add(sort.dir > 0 ? 'asc' : 'desc');
    refresh();
  };
});
