#!/usr/bin/env python3
"""Builds the fuzzers' starting corpus from the repository's own data.

The seeds are the real events and rules the tests use, so coverage starts
where real input is: every Stratus Red Team event (one file each, and the
captures whole as documents), the Atomic Red Team and correlation events,
every rule of the built-in, seeds and SigmaHQ packs. Bugs the fuzzers found
are checked in beside the targets (`plugin/engine/fuzz/regressions/`) and
added on top, so every run replays them first.

Usage: fuzz-seeds.py OUT_DIR   (writes OUT_DIR/{read,load,evaluate,observation,export}/)
"""
import hashlib
import json
import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = pathlib.Path(sys.argv[1])


def put(target: str, data: bytes) -> None:
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


TARGETS = ("read", "load", "evaluate", "observation", "export")
for target in TARGETS:
    shutil.rmtree(OUT / target, ignore_errors=True)

for capture in sorted((ROOT / "tests/data/corpora/stratus-detonation-logs").glob("*.json")):
    raw = capture.read_bytes()
    put("read", raw)
    for event in json.loads(raw):
        line = json.dumps(event, separators=(",", ":")).encode()
        put("evaluate", line)
for ndjson in sorted(ROOT.glob("tests/data/**/*.ndjson")) + sorted(ROOT.glob("examples/data/*.ndjson")):
    raw = ndjson.read_bytes()
    put("read", raw)
    for line in raw.splitlines()[:50]:
        if line.strip():
            put("evaluate", line)
for rule in sorted(ROOT.glob("rules/**/*.yml")) + sorted(ROOT.glob("tests/data/rules/**/*.yml")):
    put("load", rule.read_bytes())
# Exports: the fixtures, behind the piece-size byte the target reads first.
for export in sorted((ROOT / "tests/data/exports").glob("*.*")):
    if export.suffix in (".csv", ".json"):
        put("export", b"\x07" + export.read_bytes()[:65535])
# Observations: the version byte and the shortest shapes; coverage finds
# the rest (the format is in plugin/engine/src/correlation/observation.rs).
for seed in (b"\x01", b"\x01\x00", b"\x01\x01\x00", b"\x01\x03\x80\x01\x00\x00", b"\x01\x02\x01\x00\x00\x00\x00"):
    put("observation", seed)
for target in TARGETS:
    for found in sorted((ROOT / "plugin/engine/fuzz/regressions" / target).glob("*")):
        put(target, found.read_bytes())
print(" ".join(f"{t}: {len(list((OUT / t).iterdir()))}" for t in TARGETS))
