// Compiled (not run) by types.test.js: index.d.ts describes the API as the
// tests use it, under `strict`.
import { Engine, SigilError, builtinRules, init } from '../index.js';
import type { Alert, BatchResult, Options, Verdict, RuleInfo, Source, LoadError, EventError } from '../index.js';

await init();
const options: Options = { minScore: 10, matchedOnly: true, placeholders: [['admins', ['alice']]] };
const engine: Engine = Engine.load(builtinRules(), options);
const v: Verdict = engine.evaluate({ eventName: 'StopInstances' });
const source: Source | undefined = v.source;
const rule: RuleInfo = engine.rules()[v.findings[0]?.rule ?? 0];
const batch: BatchResult = engine.evaluateBatch('{}\n');
for (const e of batch.entries) {
  if (e.outcome.tag === 'ok') console.log(e.outcome.val.score);
  else console.log(e.outcome.val.tag);
}
const alerts: Alert[] = [...engine.advance(Date.now()), ...engine.flush(), ...engine.takeAlerts()];
console.log(alerts[0]?.windowStartMs.toFixed(), rule.title, source, engine.correlationStats().alerts);
try {
  Engine.load('title: x');
} catch (e) {
  if (e instanceof SigilError) {
    const tag: LoadError['tag'] | EventError['tag'] = e.case;
    console.log(tag, e.payload, e.message);
  }
}
const runner = engine.runner({ alertsOnly: true });
const lines: Uint8Array = runner.push(new Uint8Array(0));
console.log(lines.length, runner.endInput().length, runner.finish().length, runner.counters().eventsIn);
runner[Symbol.dispose]();
engine.free();
