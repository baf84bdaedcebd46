"""Standard Sigma tools must still read sigil's rules.

sigil's extensions (labels, CASE columns, schemas, aggregate records) live
in the `sigil` custom attribute, which the Sigma specification lets tools
keep and ignore. This loads each pack with pySigma, the reference Sigma
toolchain, resolves correlation references across the pack, and fails on
any error or if a rule lost its `sigil` attribute.
"""
import pathlib
import sys

from sigma.collection import SigmaCollection

failed = False
for pack in sys.argv[1:]:
    paths = sorted(pathlib.Path(pack).rglob("*.yml"))
    rules = SigmaCollection.load_ruleset([str(p) for p in paths], collect_errors=True)
    rules.resolve_rule_references()
    errors = list(rules.errors) + [e for r in rules.rules for e in getattr(r, "errors", [])]
    texts = sum(p.read_text().count("\nsigil:") for p in paths)
    kept = sum(1 for r in rules.rules if "sigil" in (getattr(r, "custom_attributes", None) or {}))
    print(f"{pack}: {len(paths)} files, {len(rules.rules)} documents, "
          f"`sigil` kept on {kept} of {texts}, {len(errors)} errors")
    for e in errors:
        print(f"  {e}")
    failed |= bool(errors) or kept != texts
sys.exit(1 if failed else 0)
