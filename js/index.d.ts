/**
 * sigil for JavaScript: Sigma detection for cloud audit logs in browsers
 * and Node, the sigil engine compiled to WebAssembly with its built-in
 * rule pack inside.
 *
 * ```js
 * import { init, Engine } from '@sigil-detect/sigil';
 * await init();                       // browsers load the .wasm; a no-op in Node
 * using engine = Engine.builtin();    // or Engine.load([{ name, text }], options)
 * const verdict = engine.evaluate({ eventSource: 'ec2.amazonaws.com', eventName: 'StopInstances' });
 * verdict.score;                                  // 10
 * engine.rules()[verdict.findings[0].rule].title; // 'AWS EC2 Instance Stopped'
 * ```
 *
 * The types mirror the WIT records of `wit/types.wit` and `wit/detector.wit`
 * with the names `jco` gives them (record fields in camelCase, enum cases
 * as kebab-case strings, variants as `{ tag, val }`), so code written for
 * the component transpiled with `jco` reads the same fields. One
 * difference: 64-bit integers (`TimestampMs`, the counters of
 * `CorrelationStats`) are `number`s here, `bigint`s under jco.
 *
 * @packageDocumentation
 */

/** Severity of a rule, from Sigma's `level` (WIT `level`). */
export type Level = 'informational' | 'low' | 'medium' | 'high' | 'critical';

/** A risk score from 0 (nothing matched) to 100 (WIT `score`). */
export type Score = number;

/** Position of a rule in {@link Engine.rules} (WIT `rule-index`). */
export type RuleIndex = number;

/** Milliseconds since 1970-01-01T00:00:00Z, in event time (WIT `timestamp-ms`). */
export type TimestampMs = number;

/** One rule file handed to {@link Engine.load} (WIT `rule-source`). */
export interface RuleSource {
  /** Where the text came from (a file path or any label); errors name it. */
  name: string;
  /** The YAML text: one or more Sigma documents separated by `---`. */
  text: string;
}

/**
 * What an engine is asked at load time (WIT `options`). Every field is
 * optional: an absent one takes the engine's default. An unknown field is
 * an error (`SigilError` of case `other`), so a typo does not pass silently.
 */
export interface Options {
  /** Events whose score is below this are marked `keep = false` (default 0). */
  minScore?: Score;
  /** Events without findings are marked `keep = false` (default false). */
  matchedOnly?: boolean;
  /** A rule that fails to load is listed by {@link Engine.skipped} instead of failing the load (default false). */
  skipInvalid?: boolean;
  /** Largest event evaluated, in bytes (default 1 MiB); larger ones are cut and warned about. */
  maxEventBytes?: number;
  /** Deepest JSON nesting evaluated (default 64). */
  maxDepth?: number;
  /** Most rules a pack may hold (default 10 000). */
  maxRules?: number;
  /** Largest compiled size of one `|re` pattern, in bytes (default 1 MiB). */
  maxRegexBytes?: number;
  /** Values for `|expand` placeholders: `[['admins', ['alice', 'bob']]]`. */
  placeholders?: [string, string[]][];
  /** How far behind the newest event time an event may arrive and still correlate, in ms (default 60 000). */
  correlationLatenessMs?: number;
  /** Most correlation groups open at once (default 100 000). */
  maxGroups?: number;
  /** Most matches kept per correlation group (default 64). */
  maxEventsPerGroup?: number;
  /** Bytes of correlation state (default 64 MiB). */
  maxCorrelationBytes?: number;
}

/** Static facts about one loaded rule (WIT `rule-info`). */
export interface RuleInfo {
  /** The rule's Sigma `id` (a UUID), or its title when it has none. */
  id: string;
  /** The rule's Sigma `title`. */
  title: string;
  /** The rule's Sigma `level`. */
  level: Level;
  /** The score a finding of this rule carries. */
  score: Score;
  /** The rule's Sigma `tags`, e.g. `attack.t1578.004`. */
  tags: string[];
  /** The {@link RuleSource.name} it was loaded from. */
  source: string;
  /** 1-based line of the rule's document in that source. */
  line: number;
}

/** A rule that failed to load, and why (WIT `rule-error`). */
export interface RuleError {
  /** {@link RuleSource.name} of the file. */
  source: string;
  /** 1-based line of the offending YAML node (0 when unknown). */
  line: number;
  /** The rule's `id` when it could be read. */
  ruleId?: string;
  /** What is wrong and what to do about it. */
  reason: string;
}

/** Why {@link Engine.load} failed (WIT `load-error`); the payload of a {@link SigilError}. */
export type LoadError =
  | { tag: 'invalid-rule'; val: RuleError }
  | { tag: 'empty-pack'; val: RuleError[] }
  | { tag: 'too-many-rules'; val: number }
  | { tag: 'other'; val: string };

/** Why one event could not be evaluated (WIT `event-error`). */
export type EventError =
  | { tag: 'invalid-json'; val: string; message: string }
  | { tag: 'invalid-utf8'; message: string }
  | { tag: 'too-large'; val: number; message: string }
  | { tag: 'too-deep'; message: string }
  | { tag: 'other'; val: string; message: string };

/** Why a verdict is less certain than usual (WIT `event-warning`). */
export type EventWarning =
  | { tag: 'invalid-utf8' }
  | { tag: 'control-characters' }
  | { tag: 'lone-surrogate' }
  | { tag: 'invalid-escape' }
  | { tag: 'truncated'; val: number }
  | { tag: 'too-deep' }
  | { tag: 'duplicate-key'; val: string }
  | { tag: 'other'; val: string };

/** A record shape the engine recognises (WIT `source`). */
export type Source =
  | 'aws-cloudtrail' | 'azure-activity' | 'azure-activity-rest' | 'azure' | 'gcp-audit'
  | 'm365-management' | 'sentinel-aws-cloudtrail' | 'sentinel-azure-activity'
  | 'qradar' | 'falcon' | 'sumo';

/** One rule that matched an event (WIT `finding`). */
export interface Finding {
  /** The rule, as an index into {@link Engine.rules}. */
  rule: RuleIndex;
  /** The score of this finding. */
  score: Score;
  /** Labels attached by the rule (`sigil.labels`), name and value, in the rule's order. */
  labels: [string, string][];
}

/** The engine's judgement of one event (WIT `verdict`). */
export interface Verdict {
  /** Whether a pipeline should forward the event (see {@link Options}). */
  keep: boolean;
  /** The highest score among the findings, 0 when there are none. */
  score: Score;
  /** The highest level among the findings; absent when there are none. */
  level?: Level;
  /** Every rule that matched, in rule-table order. */
  findings: Finding[];
  /** The log source the event was recognised as; absent for no known shape. */
  source?: Source;
  /** What kept the event from being read as it came; empty for nearly every event. */
  warnings: EventWarning[];
}

/** A correlation rule that fired: its own record, not a finding (WIT `alert`). */
export interface Alert {
  /** The correlation rule, as an index into {@link Engine.rules}. */
  rule: RuleIndex;
  /** The group: each `group-by` name and its value. */
  group: [string, string][];
  /** Event time of the oldest match in the window. */
  windowStartMs: TimestampMs;
  /** Event time of the match that completed the correlation. */
  windowEndMs: TimestampMs;
  /** Ids of the contributing events (CloudTrail `eventID`, ...), oldest first. */
  events: string[];
  /** The value that met the condition (a count, a sum...). */
  value: number;
  /** The columns of an aggregate record (`sigil.aggregate`); empty otherwise. */
  labels: [string, string][];
}

/** The outcome for one event of a batch that matched or failed (WIT `batch-entry`). */
export interface BatchEntry {
  /** The event's position in the batch, counting non-blank lines from 0. */
  index: number;
  /** The verdict, or why the event could not be evaluated. */
  outcome: { tag: 'ok'; val: Verdict } | { tag: 'err'; val: EventError };
}

/** A correlation alert that came out while evaluating a batch (WIT `batch-alert`). */
export interface BatchAlert {
  /** The position of the event after which it came out. */
  index: number;
  /** The alert. */
  alert: Alert;
}

/**
 * The compact answer to {@link Engine.evaluateBatch} (WIT `batch-result`).
 * Events absent from `entries` matched nothing and were read cleanly.
 */
export interface BatchResult {
  /** How many events the batch held. */
  events: number;
  /** One entry per event that matched or failed, in index order. */
  entries: BatchEntry[];
  /** Correlation alerts, in the order they came out. */
  alerts: BatchAlert[];
}

/** Counters of an engine's correlation state (WIT `correlation-stats`). */
export interface CorrelationStats {
  /** Correlation rules loaded. */
  correlations: number;
  /** Groups with an open window now. */
  openGroups: number;
  /** Matches waiting for the watermark now. */
  pending: number;
  /** Approximate bytes of correlation state now. */
  bytes: number;
  /** Alerts produced. */
  alerts: number;
  /** Matches left out because they arrived behind the watermark. */
  lateEvents: number;
  /** The late matches per correlation rule: [rule index, count], in rule order. */
  lateByRule: [number, number][];
  /** How far behind the newest event time the latest late match was, in ms. */
  maxLateLagMs: number;
  /** Matches not counted because the same event was already waiting or in the window (a re-delivery). */
  duplicateEvents: number;
  /** Matching events left out because neither they nor the stream had a time. */
  untimedEvents: number;
  /** Matching events left out because a group-by field was missing. */
  ungroupedEvents: number;
  /** Groups evicted to stay within `maxGroups` or the byte budget. */
  evictedGroups: number;
  /** Matches dropped from full groups (`maxEventsPerGroup`). */
  droppedEntries: number;
  /** Waiting matches committed before the watermark reached them because the waiting room was full. */
  forcedCommits: number;
  /** Groups or values beyond the 16 one event may join per correlation. */
  fanoutTruncated: number;
  /** Alerts of `evaluate` dropped because `takeAlerts` was not called before `maxGroups` of them piled up. */
  alertsDropped: number;
}

/** What a {@link Runner} did: the counters of `sigil run`'s summary line. */
export interface Counters {
  /** Events read. */
  eventsIn: number;
  /** Lines written (events read minus those with `keep = false`). */
  eventsOut: number;
  /** Events with at least one finding. */
  matched: number;
  /** Events written with an error instead of a verdict. */
  errors: number;
  /** Events evaluated on what could be read; their verdict carries `"warnings"`. */
  warned: number;
  /** Correlation alert lines written. */
  alerts: number;
  /** Input bytes pushed. */
  bytesIn: number;
}

/**
 * An error of the engine. `case` is the WIT error variant's case
 * (`invalid-rule`, `empty-pack`, `too-many-rules`, `invalid-json`,
 * `invalid-utf8`, `too-large`, `too-deep`, `other`) and `payload` its
 * value; `message` says what to do.
 */
export class SigilError extends Error {
  readonly name: 'SigilError';
  /** The case of the WIT `load-error` or `event-error` variant. */
  readonly case: LoadError['tag'] | EventError['tag'];
  /** The case's value (a {@link RuleError}, a list of them, a limit, a text), if it has one. */
  readonly payload: unknown;
}

/**
 * A compiled rule pack (the WIT `engine` resource), with the windows of
 * its correlation rules. Holds WebAssembly memory: call {@link Engine.free}
 * or declare it with `using` when done (it is also freed when collected).
 */
export class Engine implements Disposable {
  private constructor();

  /**
   * Parses and compiles rules: a list of sources, one source, or one YAML
   * text. Throws a {@link SigilError} of a `load-error` case.
   */
  static load(rules: RuleSource[] | RuleSource | string, options?: Options): Engine;

  /** Loads the built-in pack (`rules/cloud-compute/`), shipped inside the package's `.wasm`. */
  static builtin(options?: Options): Engine;

  /** The rule table; {@link Finding.rule} and {@link Alert.rule} index it. */
  rules(): RuleInfo[];

  /** Rules left out at load time because they were invalid (with `skipInvalid`). */
  skipped(): RuleError[];

  /**
   * Evaluates one event: an object (serialised with `JSON.stringify`), JSON
   * text, or UTF-8 bytes. Throws a {@link SigilError} of an `event-error`
   * case for text that is no event. Alerts it releases wait for {@link takeAlerts}.
   */
  evaluate(event: object | string | Uint8Array): Verdict;

  /** The correlation alerts released by {@link evaluate} since the last call, oldest first. */
  takeAlerts(): Alert[];

  /**
   * Evaluates a block of NDJSON (text or UTF-8 bytes) in one call: the fast
   * path. The block crosses into WebAssembly in one copy, every event is
   * judged there by a scan of its raw bytes (most events are ruled out
   * without being parsed), and only events that matched or failed come
   * back, so the cost in JavaScript is per match, not per event. Never
   * throws for a bad line: it becomes an entry with an `err` outcome (or,
   * for a line the scan rules out without parsing, no entry). Blocks of
   * about 1 MiB are a good size.
   */
  evaluateBatch(block: string | Uint8Array): BatchResult;

  /** Moves the correlation watermark: no event older than `watermarkMs` will come. Returns the alerts that completes. */
  advance(watermarkMs: TimestampMs): Alert[];

  /** Ends the stream: applies every waiting match, returns the alerts, closes every window. */
  flush(): Alert[];

  /** Counters of the correlation state. */
  correlationStats(): CorrelationStats;

  /** A {@link Runner} over this engine. */
  runner(options?: { alertsOnly?: boolean }): Runner;

  /** Frees the engine's WebAssembly memory; using it afterwards throws. */
  free(): void;

  /** {@link free}, for `using`. */
  [Symbol.dispose](): void;
}

/**
 * What `sigil run` does, over an {@link Engine}: each input (a file, a
 * stream) pushed in pieces of any size is framed (NDJSON, a JSON array, a
 * CloudTrail `Records` file, after a byte-order mark) and evaluated, and
 * the NDJSON lines `sigil run` writes for it come back as UTF-8 bytes: each
 * event with its verdict under `"sigil"`, alerts as `{"sigil_alert":...}`
 * lines, the same bytes as the CLI's.
 */
export class Runner implements Disposable {
  private constructor();
  /** Adds the next bytes of the current input; returns the lines of the blocks they complete (often none). */
  push(bytes: Uint8Array | ArrayBuffer | string): Uint8Array;
  /** Ends the current input; returns the lines of its rest. Throws a {@link SigilError} (case `other`) for a document that does not split into events. */
  endInput(): Uint8Array;
  /** Ends the run: returns the alert lines of the matches still waiting. */
  finish(): Uint8Array;
  /** The counters so far. */
  counters(): Counters;
  /** Frees the runner's WebAssembly memory. */
  free(): void;
  /** {@link free}, for `using`. */
  [Symbol.dispose](): void;
}

/** The built-in pack's rule sources, to list them or to load them with more rules of your own. */
export function builtinRules(): RuleSource[];

/**
 * Loads the WebAssembly module. In browsers, await it once before anything
 * else (by default it loads `pkg/sigil_bg.wasm` from beside the module;
 * pass a URL, a `Response`, bytes or a `WebAssembly.Module` to load it
 * otherwise). In Node the module is loaded on import and this does nothing.
 */
export function init(input?: URL | string | Response | BufferSource | WebAssembly.Module): Promise<void>;
