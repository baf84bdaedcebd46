// The package's API over the wasm-bindgen module (`pkg/sigil.js`), shared
// by the browser entry (`web.js`) and the Node entry (`node.js`), which
// differ only in how they load the `.wasm`. Types and docs: `index.d.ts`.
//
// Values cross the boundary as JSON text and bytes (see `src/wit.rs` for
// why), so every method here is: encode, call, `JSON.parse`, and turn a
// thrown WIT error variant into a `SigilError`.

const dispose = Symbol.dispose ?? Symbol.for('Symbol.dispose');
const encoder = new TextEncoder();

/** An error of the engine, with the case of the WIT error variant. */
export class SigilError extends Error {
  constructor(tag, payload, message) {
    super(message);
    this.name = 'SigilError';
    this.case = tag;
    this.payload = payload;
  }
}

/** Runs `call`, turning the JSON of a WIT error variant it throws into a SigilError. */
function checked(call) {
  try {
    return call();
  } catch (e) {
    if (typeof e === 'string' && e.startsWith('{')) {
      const v = JSON.parse(e);
      throw new SigilError(v.tag, v.val, v.message);
    }
    throw e;
  }
}

function freed(what) {
  return new SigilError('other', 'freed', `this ${what} was freed: create a new one`);
}

/** Bytes of an event or block given as a string, bytes, or (events only) an object. */
function bytesOf(input, what) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (typeof input === 'string') return input;
  if (what === 'event' && input !== null && typeof input === 'object') return JSON.stringify(input);
  throw new SigilError('other', `not an ${what}`,
    `an ${what} is a string or a Uint8Array${what === 'event' ? ' or an object' : ''}, not ${input === null ? 'null' : typeof input}`);
}

/** The API over one instantiated wasm-bindgen module. */
export function bind(wasm) {
  class Engine {
    #raw;
    #rules;

    constructor(raw) {
      if (!(raw instanceof wasm.WasmEngine)) {
        throw new TypeError('use Engine.load(rules) or Engine.builtin()');
      }
      this.#raw = raw;
    }

    static load(rules, options = {}) {
      const list = typeof rules === 'string' ? [{ name: 'rules.yml', text: rules }]
        : Array.isArray(rules) ? rules : [rules];
      return new Engine(checked(() => wasm.WasmEngine.load(JSON.stringify(list), JSON.stringify(options))));
    }

    static builtin(options = {}) {
      return new Engine(checked(() => wasm.WasmEngine.builtin(JSON.stringify(options))));
    }

    get #engine() {
      if (!this.#raw) throw freed('engine');
      return this.#raw;
    }

    /** The raw wasm-bindgen object, for `Runner`. */
    static raw(engine) {
      return engine.#engine;
    }

    rules() {
      this.#rules ??= JSON.parse(this.#engine.rules());
      return this.#rules;
    }

    skipped() {
      return JSON.parse(this.#engine.skipped());
    }

    evaluate(event) {
      const e = this.#engine;
      const input = bytesOf(event, 'event');
      return JSON.parse(checked(() => (typeof input === 'string' ? e.evaluateText(input) : e.evaluate(input))));
    }

    takeAlerts() {
      return JSON.parse(this.#engine.takeAlerts());
    }

    evaluateBatch(block) {
      const e = this.#engine;
      const input = bytesOf(block, 'NDJSON block');
      return JSON.parse(typeof input === 'string' ? e.evaluateBatchText(input) : e.evaluateBatch(input));
    }

    advance(watermarkMs) {
      return JSON.parse(this.#engine.advance(Number(watermarkMs)));
    }

    flush() {
      return JSON.parse(this.#engine.flush());
    }

    correlationStats() {
      return JSON.parse(this.#engine.correlationStats());
    }

    runner(options = {}) {
      return new Runner(this, options);
    }

    free() {
      this.#raw?.free();
      this.#raw = undefined;
    }

    [dispose]() {
      this.free();
    }
  }

  class Runner {
    #raw;
    #engine;

    constructor(engine, { alertsOnly = false } = {}) {
      this.#engine = engine;
      this.#raw = new wasm.WasmRunner(Engine.raw(engine), alertsOnly);
    }

    get #runner() {
      if (!this.#raw) throw freed('runner');
      return this.#raw;
    }

    push(bytes) {
      const input = typeof bytes === 'string' ? encoder.encode(bytes) : bytesOf(bytes, 'input');
      return this.#runner.push(Engine.raw(this.#engine), input);
    }

    endInput() {
      const r = this.#runner;
      return checked(() => r.endInput(Engine.raw(this.#engine)));
    }

    finish() {
      return this.#runner.finish(Engine.raw(this.#engine));
    }

    counters() {
      return JSON.parse(this.#runner.counters());
    }

    free() {
      this.#raw?.free();
      this.#raw = undefined;
    }

    [dispose]() {
      this.free();
    }
  }

  function builtinRules() {
    return JSON.parse(wasm.builtinRules());
  }

  return { Engine, Runner, builtinRules };
}
