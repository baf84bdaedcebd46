// Browser (and bundler) entry: the `.wasm` is loaded by `init()`, from the
// package's own `pkg/sigil_bg.wasm` unless given bytes, a Response or a
// compiled module.
import initWasm, * as wasm from '../pkg/sigil.js';
import { bind, SigilError } from './api.js';

const api = bind(wasm);

export const Engine = api.Engine;
export const Runner = api.Runner;
export const builtinRules = api.builtinRules;
export { SigilError };

let ready;

/** Loads the WebAssembly module once; call (and await) it before anything else. */
export function init(input) {
  ready ??= initWasm(input === undefined ? undefined : { module_or_path: input });
  return ready.then(() => undefined);
}
