#!/usr/bin/env python3
"""Builds the export fixtures of this folder from the seeds' SIEM rows.

Each fixture holds the rows of one file of `../seeds/events/` (the
T1578.004 / T1578.002 scenario), minus the `_test_id` bookkeeping, in the
shape the vendor's API or console writes them (README.md cites each
shape's documentation). `tests/tests/exports.rs` reads every fixture and
requires the same findings and alerts as the seeds' NDJSON rows.

Run `python3 build.py` to rebuild them; `--check` exits 1 when a fixture is
stale. Stdlib only.
"""

import csv
import io
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEEDS = HERE.parent / "seeds" / "events"


def rows(name):
    out = []
    for line in (SEEDS / f"{name}.ndjson").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            row.pop("_test_id")
            out.append(row)
    return out


def columns(rows_):
    names = []
    for r in rows_:
        names += [k for k in r if k not in names]
    return names


def text(v):
    """A value as an export writes it in a cell or a Sumo string."""
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def write_csv(names, rows_, cell=text, header=None):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(header or names)
    for r in rows_:
        w.writerow([cell(n, r.get(n)) if cell is not text else text(r.get(n)) for n in names])
    return buf.getvalue()


def qradar():
    # GET /ariel/searches/{search_id}/results, Accept: application/json:
    # {"events": [ {column: value, ...} ]}, one object per result row,
    # keyed by the SELECT's column names (AS aliases).
    rs = rows("qradar")
    ariel = json.dumps({"events": rs}, indent=2) + "\n"
    # The same results with Accept: application/csv: a header of the
    # column names, then one RFC 4180 row per result.
    return {"qradar_ariel.json": ariel, "qradar_ariel.csv": write_csv(columns(rs), rs)}


LA_TYPES = {
    # The table references' types (see the schemas' `columns`).
    "TimeGenerated": "datetime",
    "Properties_d": "dynamic",
}


def log_analytics(name, table):
    # POST /v1/workspaces/{id}/query: {"tables": [{"name": "PrimaryResult",
    # "columns": [{"name", "type"}], "rows": [[...]]}]}. Every row carries
    # every column; a missing value is null; dynamic values are JSON text.
    rs = rows(name)
    names = columns(rs)
    cols = [{"name": n, "type": LA_TYPES.get(n, "string")} for n in names]

    def value(n, v):
        if LA_TYPES.get(n) == "dynamic" and v is not None:
            return json.dumps(v, separators=(",", ":"))
        return v

    body = {"tables": [{"name": "PrimaryResult", "columns": cols,
                        "rows": [[value(n, r.get(n)) for n in names] for r in rs]}]}
    api = json.dumps(body, indent=2) + "\n"

    # The portal's "Export to CSV (all columns)": datetime columns headed
    # `NAME [UTC]` and shown as `M/D/YYYY, h:mm:ss.fff AM`.
    def cell(n, v):
        if LA_TYPES.get(n) == "datetime" and v:
            t = datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
            h = t.hour % 12 or 12
            return f"{t.month}/{t.day}/{t.year}, {h}:{t.minute:02}:{t.second:02}.{t.microsecond // 1000:03} {'AM' if t.hour < 12 else 'PM'}"
        return text(v)

    header = [f"{n} [UTC]" if LA_TYPES.get(n) == "datetime" else n for n in names]
    portal = write_csv(names, rs, cell=cell, header=header)
    return {f"log_analytics_{table}.json": api, f"log_analytics_{table}.csv": portal}


def sumo():
    # GET /api/v1/search/jobs/{id}/messages: {"fields": [{"name",
    # "fieldType", "keyField"}], "messages": [{"map": {...}}]}: every name
    # lower-cased, every value a string; `_raw` the message as ingested;
    # `json auto` adds each top-level key of the record as a field.
    rs = rows("sumo")
    messages = []
    for i, r in enumerate(rs):
        meta = {k: v for k, v in r.items() if k.startswith("_")}
        record = {k: v for k, v in r.items() if not k.startswith("_")}
        m = {
            "_blockid": str(-9223372036854000000 + i),
            "_collector": "azure-eh-collector" if "azure" in meta["_sourceCategory"] else "aws-s3-collector",
            "_collectorid": "1579",
            "_format": "t:fail:o:-1:l:0:p:null",
            "_messagecount": str(100 + i),
            "_messageid": str(-9223372036854000100 + i),
            "_messagetime": str(meta["_messageTime"]),
            "_raw": json.dumps(record, separators=(",", ":")),
            "_receipttime": str(meta["_messageTime"] + 1234),
            "_size": str(len(json.dumps(record, separators=(",", ":")))),
            "_source": "activity-logs" if "azure" in meta["_sourceCategory"] else "cloudtrail",
            "_sourcecategory": meta["_sourceCategory"],
            "_sourcehost": meta["_sourceHost"],
            "_sourceid": "1640",
            "_sourcename": "Http Input",
            "_view": "",
        }
        for k, v in record.items():
            m.setdefault(k.lower(), text(v))
        messages.append({"map": m})
    names = columns([m["map"] for m in messages])
    fields = [{"name": n, "fieldType": "long" if n in ("_messagetime", "_receipttime", "_size", "_messagecount", "_messageid", "_blockid", "_collectorid", "_sourceid") else "string", "keyField": False} for n in names]
    api = json.dumps({"fields": fields, "messages": messages}, indent=2) + "\n"
    # The Messages tab's "Export (All Fields)": a header of the lower-cased
    # field names, then one row per message.
    maps = [m["map"] for m in messages]
    return {"sumo_search_job.json": api, "sumo_messages.csv": write_csv(names, maps)}


def logscale():
    # The search page's "Export to file" as CSV: a header of the field
    # names, one row per event; every value text, `@timestamp` epoch ms.
    rs = rows("falcon")
    for r in rs:
        r["@timestamp"] = int(r["timestamp"]) if "timestamp" in r else 1795169000000
        r["#repo"] = "falcon-ngsiem"
    names = ["@timestamp", "#repo"] + [n for n in columns(rs) if n not in ("@timestamp", "#repo")]
    return {"logscale_falcon.csv": write_csv(names, rs)}


def main():
    files = {}
    for part in (qradar(), log_analytics("sentinel_awscloudtrail", "awscloudtrail"),
                 log_analytics("sentinel_azureactivity", "azureactivity"), sumo(), logscale()):
        files.update(part)
    stale = []
    for name, body in files.items():
        path = HERE / name
        if "--check" in sys.argv:
            if not path.exists() or path.read_bytes() != body.encode():
                stale.append(name)
        else:
            path.write_bytes(body.encode())
    if stale:
        print("stale:", ", ".join(stale), "(run python3 build.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
