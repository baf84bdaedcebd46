// Node entry: the same module as the browser's, instantiated synchronously
// from the package's file, so nothing needs awaiting (`init()` is there for
// code shared with the browser).
import { readFileSync } from 'node:fs';
import { initSync } from '../pkg/sigil.js';
import * as wasm from '../pkg/sigil.js';
import { bind, SigilError } from './api.js';

initSync({ module: readFileSync(new URL('../pkg/sigil_bg.wasm', import.meta.url)) });

const api = bind(wasm);

export const Engine = api.Engine;
export const Runner = api.Runner;
export const builtinRules = api.builtinRules;
export { SigilError };

/** Nothing to wait for in Node; kept so that code shared with browsers runs unchanged. */
export async function init() {}
