#!/usr/bin/env python3
"""Independent oracle for the five vendor seed queries (the project's seed documents).

Each query is transliterated literally, clause by clause, from the vendor's own
documentation (see README.md for the sources and for every semantic decision).
It reads the SIEM-shaped events in events/ and writes expected/<query>.json.

    python3 oracle.py           # regenerate every expected file
    python3 oracle.py --check   # exit 1 and print a diff if any file is stale

Python 3.11 standard library only. No sigil code is consulted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

HERE = Path(__file__).resolve().parent
EVENTS = HERE / "events"
EXPECTED = HERE / "expected"


def load(name: str) -> list[dict[str, Any]]:
    """Read one NDJSON file; every object carries a unique `_test_id`."""
    rows = []
    with open(EVENTS / name, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    ids = [r["_test_id"] for r in rows]
    assert len(ids) == len(set(ids)), f"duplicate _test_id in {name}"
    return rows


def columns(pairs: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """Output columns: absent/null source values are omitted, the rest are strings."""
    out = {}
    for name, value in pairs:
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    return out


# ---------------------------------------------------------------------------
# QRadar AQL (seeds 000 and 004: identical query text)
# ---------------------------------------------------------------------------
# SQL three-valued logic: True / False / None (= UNKNOWN). A NULL operand makes
# ILIKE, NOT ILIKE and = UNKNOWN; WHERE keeps a row only when the predicate is
# TRUE; a CASE arm is taken only when its condition is TRUE.

def ilike(value: Any, pattern: str) -> bool | None:
    """AQL ILIKE: whole-value match, % = any run, _ = one char, case-insensitive."""
    if value is None:
        return None
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, str(value), re.IGNORECASE | re.DOTALL) is not None


def not3(x: bool | None) -> bool | None:
    return None if x is None else not x


def and3(*xs: bool | None) -> bool | None:
    if any(x is False for x in xs):
        return False
    return None if any(x is None for x in xs) else True


def or3(*xs: bool | None) -> bool | None:
    if any(x is True for x in xs):
        return True
    return None if any(x is None for x in xs) else False


def eq3(value: Any, literal: str) -> bool | None:
    """AQL `=` on strings: exact, case-sensitive; NULL = x is UNKNOWN."""
    return None if value is None else value == literal


def dateformat_utc(epoch_ms: int) -> str:
    """DATEFORMAT(devicetime,'yyyy-MM-dd HH:mm:ss'), rendered in UTC."""
    t = dt.datetime.fromtimestamp(epoch_ms / 1000, dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S")


def qradar_row(ev: dict[str, Any]) -> dict[str, str]:
    """The SELECT list, shared by both QRadar variants."""
    op = ev.get("Operation")
    # CASE WHEN "Operation" ILIKE '%delete%' OR "Operation" ILIKE '%destroy%' THEN 90
    #      WHEN "Operation" ILIKE '%snapshot%' AND "ResultType" = 'Success' THEN 70
    #      WHEN "Operation" ILIKE '%create%instance%' THEN 60
    #      ELSE 40 END AS RiskScore
    if or3(ilike(op, "%delete%"), ilike(op, "%destroy%")) is True:
        risk = 90
    elif and3(ilike(op, "%snapshot%"), eq3(ev.get("ResultType"), "Success")) is True:
        risk = 70
    elif ilike(op, "%create%instance%") is True:
        risk = 60
    else:
        risk = 40
    # CASE WHEN "Operation" ILIKE '%delete%' THEN 'Cloud Resource Deletion'
    #      WHEN "Operation" ILIKE '%snapshot%' THEN 'Snapshot Operation'
    #      WHEN "Operation" ILIKE '%create%' THEN 'Cloud Resource Creation'
    #      ELSE 'Cloud Modification' END AS AlertType
    if ilike(op, "%delete%") is True:
        alert = "Cloud Resource Deletion"
    elif ilike(op, "%snapshot%") is True:
        alert = "Snapshot Operation"
    elif ilike(op, "%create%") is True:
        alert = "Cloud Resource Creation"
    else:
        alert = "Cloud Modification"
    return columns([
        # DATEFORMAT(devicetime,'yyyy-MM-dd HH:mm:ss') AS EventTime
        ("EventTime", None if ev.get("devicetime") is None else dateformat_utc(ev["devicetime"])),
        ("username", ev.get("username")),                 # username
        ("CloudOperation", op),                           # "Operation" AS CloudOperation
        ("CloudResource", ev.get("ResourceType")),        # "ResourceType" AS CloudResource
        ("ResourceGroup", ev.get("ResourceGroup")),       # "ResourceGroup"
        ("SubscriptionId", ev.get("SubscriptionId")),     # "SubscriptionId"
        ("RiskScore", risk),
        ("AlertType", alert),
    ])


def qradar_predicates(ev: dict[str, Any]) -> dict[str, bool | None]:
    """The individual WHERE predicates. LOGSOURCETYPENAME(devicetype) is pre-resolved
    into the event's `logsourcetypename` field (the engine cannot call QRadar)."""
    lst = ev.get("logsourcetypename")
    op = ev.get("Operation")
    user = ev.get("username")
    return {
        # LOGSOURCETYPENAME(devicetype) ILIKE '%azure%'
        "az": ilike(lst, "%azure%"),
        # LOGSOURCETYPENAME(devicetype) ILIKE '%cloudtrail%'
        "ct": ilike(lst, "%cloudtrail%"),
        # ("Operation" ILIKE '%compute%' OR ... '%instance%' OR ... '%snapshot%' OR ... '%virtualMachine%')
        "ops": or3(ilike(op, "%compute%"), ilike(op, "%instance%"),
                   ilike(op, "%snapshot%"), ilike(op, "%virtualMachine%")),
        # username NOT ILIKE '%azure%automation%'
        "u1": not3(ilike(user, "%azure%automation%")),
        # username NOT ILIKE '%backup%service%'
        "u2": not3(ilike(user, "%backup%service%")),
    }


def qradar_as_written(events: list[dict[str, Any]]) -> dict[str, Any]:
    """WHERE az OR ct AND (ops) AND u1 AND u2 -- AND binds tighter than OR, so this
    is az OR (ct AND ops AND u1 AND u2): every Azure event passes."""
    rows = []
    for ev in events:
        p = qradar_predicates(ev)
        where = or3(p["az"], and3(p["ct"], p["ops"], p["u1"], p["u2"]))
        if where is True:
            rows.append({"_test_id": ev["_test_id"], "columns": qradar_row(ev)})
    # ORDER BY RiskScore DESC / LAST 1 HOURS: not modelled; rows stay in input order.
    return {"query": "qradar_as_written", "rows": rows}


def qradar_corrected(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Evident intent: (az OR ct) AND (ops) AND u1 AND u2."""
    rows = []
    for ev in events:
        p = qradar_predicates(ev)
        where = and3(or3(p["az"], p["ct"]), p["ops"], p["u1"], p["u2"])
        if where is True:
            rows.append({"_test_id": ev["_test_id"], "columns": qradar_row(ev)})
    return {"query": "qradar_corrected", "rows": rows}


# ---------------------------------------------------------------------------
# Microsoft Sentinel KQL (seed 002)
# ---------------------------------------------------------------------------

def _term_char(c: str) -> bool:
    """Kusto terms are maximal runs of ASCII alphanumerics; all else delimits."""
    return c.isascii() and c.isalnum()


def kql_text(value: Any) -> str | None:
    """String view of a value for string operators: dynamic -> compact JSON text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def kql_has(lhs: Any, rhs: str) -> bool:
    """`has`: rhs occurs in lhs as whole term(s), case-insensitively. An rhs edge
    that is a term character must sit on a term boundary of lhs."""
    text = kql_text(lhs)
    if text is None or rhs == "":
        return False
    hay, needle = text.lower(), rhs.lower()
    start = hay.find(needle)
    while start != -1:
        end = start + len(needle)
        left_ok = not _term_char(needle[0]) or start == 0 or not _term_char(hay[start - 1])
        right_ok = not _term_char(needle[-1]) or end == len(hay) or not _term_char(hay[end])
        if left_ok and right_ok:
            return True
        start = hay.find(needle, start + 1)
    return False


def kql_has_any(lhs: Any, rhss: Iterable[str]) -> bool:
    return any(kql_has(lhs, r) for r in rhss)


def kql_eq_ci(lhs: Any, rhs: str) -> bool:
    """`=~`: case-insensitive equality; a missing/null value is never equal."""
    return isinstance(lhs, str) and lhs.lower() == rhs.lower()


def kql_in(lhs: Any, values: Iterable[str]) -> bool:
    """`in`: case-SENSITIVE membership."""
    return lhs is not None and lhs in tuple(values)


def kql_isempty(value: Any) -> bool:
    """isempty(): true for null or the empty string only (\" \" is not empty)."""
    return value is None or value == ""


def sentinel_kql(azure: list[dict[str, Any]], aws: list[dict[str, Any]]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    # let AzureRevertOps = AzureActivity
    for ev in azure:
        # | where TimeGenerated > ago(TimeWindow)   -- not modelled (fixed test data)
        # | where OperationNameValue has_any ( ...six operation names... )
        if not kql_has_any(ev.get("OperationNameValue"), (
                "Microsoft.Compute/disks/write",
                "Microsoft.Compute/restorePoints/write",
                "Microsoft.Compute/restorePointCollections/write",
                "Microsoft.Compute/virtualMachines/capture/action",
                "Microsoft.Compute/virtualMachines/write",
                "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/recovery/action")):
            continue
        # | where ActivityStatusValue =~ "Success"
        if not kql_eq_ci(ev.get("ActivityStatusValue"), "Success"):
            continue
        # | where Properties_d has_any ("snapshot", "restorePoint", "diskRestorePoint", "creationData", "Copy", "Restore")
        if not kql_has_any(ev.get("Properties_d"), (
                "snapshot", "restorePoint", "diskRestorePoint", "creationData", "Copy", "Restore")):
            continue
        operation = ev.get("OperationNameValue")          # | extend Operation = OperationNameValue
        rows.append({"_test_id": ev["_test_id"], "columns": columns([
            ("TimeGenerated", ev.get("TimeGenerated")),
            ("CloudProvider", "Azure"),                   # | extend CloudProvider = "Azure"
            ("ActorIdentity", ev.get("Caller")),          # | extend ActorIdentity = Caller
            ("SourceIP", ev.get("CallerIpAddress")),      # | extend SourceIP = CallerIpAddress
            ("Operation", operation),
            ("TargetResource", ev.get("_ResourceId")),    # | extend TargetResource = _ResourceId
            ("ResourceGroup", ev.get("ResourceGroup")),   # | project ..., ResourceGroup, SubscriptionId
            ("SubscriptionId", ev.get("SubscriptionId")),
            *_union_annotations(operation),
        ])})
    # let AWSRevertOps = AWSCloudTrail
    for ev in aws:
        # | where TimeGenerated > ago(TimeWindow)   -- not modelled
        # | where EventName in ( ...eleven event names... )
        if not kql_in(ev.get("EventName"), (
                "ImportSnapshot", "RestoreSnapshotTier", "CreateRestoreImageTask", "CopySnapshot",
                "RegisterImage", "RunInstances", "AttachVolume", "DetachVolume", "ModifyVolume",
                "StopInstances", "StartInstances")):
            continue
        # | where isempty(ErrorCode)
        if not kql_isempty(ev.get("ErrorCode")):
            continue
        operation = ev.get("EventName")                   # | extend Operation = EventName
        rows.append({"_test_id": ev["_test_id"], "columns": columns([
            ("TimeGenerated", ev.get("TimeGenerated")),
            ("CloudProvider", "AWS"),                     # | extend CloudProvider = "AWS"
            ("ActorIdentity", ev.get("UserIdentityArn")), # | extend ActorIdentity = UserIdentityArn
            ("SourceIP", ev.get("SourceIpAddress")),      # | extend SourceIP = SourceIpAddress
            ("Operation", operation),
            # | extend TargetResource = tostring(RequestParameters)  (string kept unchanged)
            ("TargetResource", kql_text(ev.get("RequestParameters"))),
            ("AWSRegion", ev.get("AWSRegion")),           # | project ..., AWSRegion, RecipientAccountId
            ("RecipientAccountId", ev.get("RecipientAccountId")),
            *_union_annotations(operation),
        ])})
    # AzureRevertOps | union AWSRevertOps  -> Azure rows first, then AWS rows, each in input order.
    # | sort by TimeGenerated desc  -- not modelled.
    return {"query": "sentinel_kql", "rows": rows}


def _union_annotations(operation: Any) -> list[tuple[str, bool]]:
    return [
        # | extend IsEphemeralReset = (Operation in ("StopInstances", "StartInstances"))
        ("IsEphemeralReset", kql_in(operation, ("StopInstances", "StartInstances"))),
        # | extend IsSnapshotRestore = (Operation has_any ("snapshot", "Snapshot", "restorePoint", ...))
        ("IsSnapshotRestore", kql_has_any(operation, (
            "snapshot", "Snapshot", "restorePoint", "RestoreImage", "RegisterImage", "ImportSnapshot",
            "CopySnapshot", "RestoreSnapshotTier", "CreateRestoreImageTask", "recovery"))),
    ]


# ---------------------------------------------------------------------------
# CrowdStrike LogScale CQL (seed 001)
# ---------------------------------------------------------------------------

def cql_regex(ev: dict[str, Any], field: str, pattern: str) -> bool:
    """`field = /re/`: unanchored regex search; a missing field never matches."""
    value = ev.get(field)
    return value is not None and re.search(pattern, str(value)) is not None


def cql_not_regex(ev: dict[str, Any], field: str, pattern: str) -> bool:
    """`field != /re/`: true when the field is missing or does not match."""
    return not cql_regex(ev, field, pattern)


def group_sort_key(group: dict[str, Any]) -> str:
    return json.dumps(group["key"], separators=(",", ":"), ensure_ascii=False)


def logscale_cql(events: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ["aid", "ActorUserName", "OperationName", "ResourceType", "ResourceName"]
    groups: dict[tuple, dict[str, Any]] = {}
    for ev in events:
        # #event_simpleName = "CloudResourceModification"   (exact, case-sensitive)
        if ev.get("#event_simpleName") != "CloudResourceModification":
            continue
        # | OperationName = /(?i)(snapshot|virtualMachine|instance|compute|create|delete|modify|revert)/
        if not cql_regex(ev, "OperationName",
                         r"(?i)(snapshot|virtualMachine|instance|compute|create|delete|modify|revert)"):
            continue
        # | ActorUserName != /(?i)(backup|automation|serviceaccount|scheduler)/
        if not cql_not_regex(ev, "ActorUserName", r"(?i)(backup|automation|serviceaccount|scheduler)"):
            continue
        # | groupBy([aid, ActorUserName, OperationName, ResourceType, ResourceName],
        #           function=[count(as=OpCount), min(timestamp, as=FirstSeen)])
        # An event missing any grouping field is not put in any group.
        if any(ev.get(k) is None for k in keys):
            continue
        k = tuple(str(ev[k]) for k in keys)
        g = groups.setdefault(k, {"OpCount": 0, "FirstSeen": None})
        g["OpCount"] += 1
        ts = ev.get("timestamp")
        if ts is not None:
            ts = int(ts)
            g["FirstSeen"] = ts if g["FirstSeen"] is None else min(g["FirstSeen"], ts)
    out = []
    for k, g in groups.items():
        key = dict(zip(keys, k))
        op = key["OperationName"]
        # | case { OperationName = /(?i)(delete|destroy|terminate)/ => RiskScore := "High";
        #          OperationName = /(?i)(snapshot|create)/ => RiskScore := "Medium";
        #          * => RiskScore := "Low"; }
        if re.search(r"(?i)(delete|destroy|terminate)", op):
            risk = "High"
        elif re.search(r"(?i)(snapshot|create)", op):
            risk = "Medium"
        else:
            risk = "Low"
        # | where RiskScore in ("High", "Medium")
        if risk not in ("High", "Medium"):
            continue
        # | table([ActorUserName, OperationName, ResourceType, ResourceName, OpCount, RiskScore, FirstSeen])
        out.append({"key": key, "columns": columns([
            ("ActorUserName", key["ActorUserName"]),
            ("OperationName", key["OperationName"]),
            ("ResourceType", key["ResourceType"]),
            ("ResourceName", key["ResourceName"]),
            ("OpCount", g["OpCount"]),
            ("RiskScore", risk),
            ("FirstSeen", g["FirstSeen"]),
        ])})
    # | sort(RiskScore)  -- replaced by the fixed key order of this corpus.
    out.sort(key=group_sort_key)
    return {"query": "logscale_cql", "groups": out}


# ---------------------------------------------------------------------------
# Sumo Logic (seed 003)
# ---------------------------------------------------------------------------

def sumo_wildcard(value: Any, pattern: str, case_sensitive: bool) -> bool:
    """Sumo wildcard pattern: `*` = any run, whole-value match."""
    if value is None:
        return False
    rx = ".*".join(re.escape(part) for part in pattern.split("*"))
    flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
    return re.fullmatch(rx, str(value), flags) is not None


def sumo_matches_literal(value: Any, pattern: str) -> bool:
    """`matches` with a quoted pattern, as documented: a case-sensitive wildcard
    pattern, not a regex. "(?i)(a|b)" therefore only matches that exact text."""
    return sumo_wildcard(value, pattern, case_sensitive=True)


def sumo_matches_regex(value: Any, pattern: str) -> bool:
    """The query author's evident reading: an unanchored RE2 regex search."""
    return value is not None and re.search(pattern, str(value)) is not None


def sumo_scope(ev: dict[str, Any]) -> bool:
    # _sourceCategory=*azure*activitylog* OR _sourceCategory=*aws*cloudtrail*
    # (metadata keyword search: wildcard, case-insensitive)
    cat = ev.get("_sourceCategory")
    return (sumo_wildcard(cat, "*azure*activitylog*", case_sensitive=False)
            or sumo_wildcard(cat, "*aws*cloudtrail*", case_sensitive=False))


def sumo_pipeline(events: list[dict[str, Any]], query: str,
                  matches: Callable[[Any, str], bool],
                  fields: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """The Sumo query body; `matches` and `fields` vary between the variants."""
    groups: dict[tuple, dict[str, Any]] = {}
    for ev in events:
        if not sumo_scope(ev):
            continue
        # | json auto   -- top-level keys of the message become fields (see `fields`)
        f = fields(ev)
        op, caller = f["operationName"], f["caller"]
        # | where matches(operationName, "(?i)(snapshot|virtualMachine|instance|compute|create|delete|modify)")
        if not matches(op, "(?i)(snapshot|virtualMachine|instance|compute|create|delete|modify)"):
            continue
        # | eval RiskLevel = if(matches(operationName, "(?i)(delete|destroy|terminate)"), "High",
        #     if(matches(operationName, "(?i)(snapshot|create)"), "Medium", "Low"))
        if matches(op, "(?i)(delete|destroy|terminate)"):
            risk = "High"
        elif matches(op, "(?i)(snapshot|create)"):
            risk = "Medium"
        else:
            risk = "Low"
        # | where RiskLevel in ("High","Medium")
        if risk not in ("High", "Medium"):
            continue
        # | eval AlertType = if(matches(operationName, "(?i)delete"), "Cloud Resource Deletion", ...)
        #   AlertType is computed but not kept by the stats below, so it has no output.
        # | where caller != "azure-backup" and !matches(caller, "(?i)automation")
        #   A null caller makes the comparison false: the message is dropped.
        if caller is None or not (caller != "azure-backup" and not matches(caller, "(?i)automation")):
            continue
        # | stats count AS OpCount, values(operationName) AS Operations, values(RiskLevel) AS RiskLevels
        #     by _sourceHost, caller, resourceGroup
        #   A message whose by-field is null/missing joins no group.
        key = (ev.get("_sourceHost"), caller, f["resourceGroup"])
        if any(v is None for v in key):
            continue
        g = groups.setdefault(key, {"count": 0, "ops": set(), "risks": set()})
        g["count"] += 1
        g["ops"].add(op)
        g["risks"].add(risk)
    out = []
    for (host, caller, rg), g in groups.items():
        out.append({
            "key": {"_sourceHost": host, "caller": caller, "resourceGroup": rg},
            "columns": columns([
                ("OpCount", g["count"]),
                ("Operations", json.dumps(sorted(g["ops"]), separators=(",", ":"), ensure_ascii=False)),
                ("RiskLevels", json.dumps(sorted(g["risks"]), separators=(",", ":"), ensure_ascii=False)),
            ]),
        })
    # | sort by OpCount desc  -- replaced by the fixed key order of this corpus.
    out.sort(key=group_sort_key)
    return {"query": query, "groups": out}


def sumo_fields_as_written(ev: dict[str, Any]) -> dict[str, Any]:
    """The fields the query names, as `json auto` yields them (top-level keys only)."""
    def scalar(name: str) -> Any:
        v = ev.get(name)
        return v if v is None or isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    return {"operationName": scalar("operationName"), "caller": scalar("caller"),
            "resourceGroup": scalar("resourceGroup")}


UPN_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"


def sumo_fields_corrected(ev: dict[str, Any]) -> dict[str, Any]:
    """Correction (README): map each real shape onto the three fields the query uses.
    Azure Event Hub records: operationName; caller = UPN claim, else appid claim;
    resourceGroup parsed from resourceId. CloudTrail: eventName; userIdentity.arn;
    recipientAccountId. A message that already has the flat fields keeps them."""
    f = sumo_fields_as_written(ev)
    claims = (ev.get("identity") or {}).get("claims") or {}
    uid = ev.get("userIdentity") or {}
    if f["operationName"] is None:
        f["operationName"] = ev.get("eventName")
    if f["caller"] is None:
        f["caller"] = claims.get(UPN_CLAIM) or claims.get("appid") or uid.get("arn")
    if f["resourceGroup"] is None:
        m = re.search(r"/resourcegroups/([^/]+)", ev.get("resourceId") or "", re.IGNORECASE)
        f["resourceGroup"] = m.group(1) if m else ev.get("recipientAccountId")
    return f


def sumo_as_written(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Literal, per the `matches` docs: quoted patterns are wildcard patterns."""
    return sumo_pipeline(events, "sumo_as_written", sumo_matches_literal, sumo_fields_as_written)


def sumo_as_written_regex(events: list[dict[str, Any]]) -> dict[str, Any]:
    """As written, but reading the quoted "(?i)..." patterns as regexes."""
    return sumo_pipeline(events, "sumo_as_written_regex", sumo_matches_regex, sumo_fields_as_written)


def sumo_corrected(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Regex reading plus field mapping for the shapes Sumo really ingests."""
    return sumo_pipeline(events, "sumo_corrected", sumo_matches_regex, sumo_fields_corrected)


# ---------------------------------------------------------------------------

def build() -> dict[str, dict[str, Any]]:
    qradar = load("qradar.ndjson")
    sumo = load("sumo.ndjson")
    results = [
        qradar_as_written(qradar),
        qradar_corrected(qradar),
        sentinel_kql(load("sentinel_azureactivity.ndjson"), load("sentinel_awscloudtrail.ndjson")),
        logscale_cql(load("falcon.ndjson")),
        sumo_as_written(sumo),
        sumo_as_written_regex(sumo),
        sumo_corrected(sumo),
    ]
    return {r["query"]: r for r in results}


def render(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail with a diff if an expected file is stale")
    args = ap.parse_args()
    stale = False
    for name, obj in build().items():
        path = EXPECTED / f"{name}.json"
        text = render(obj)
        if args.check:
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            if old != text:
                stale = True
                sys.stdout.writelines(difflib.unified_diff(
                    old.splitlines(keepends=True), text.splitlines(keepends=True),
                    fromfile=f"{path} (on disk)", tofile=f"{path} (oracle)"))
        else:
            EXPECTED.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
