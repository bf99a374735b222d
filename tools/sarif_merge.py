"""Merge SARIF files into one file of one run, for one code scanning upload.

    python -m tools.sarif_merge --category trivy/ --out build/trivy/trivy.sarif build/trivy/sarif/*.sarif

GitHub refuses an upload of more than 20 runs, and Trivy writes one run per image: with one run per
upload the scan holds for any number of images. Each input run must come from the same tool (its
`driver.name`); rules are merged by id (each result's `ruleIndex` follows its rule), and a result of
an image scan names its image in its message and location, so the same finding in two images stays
two alerts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SCHEMA = "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json"


def _image(run: dict[str, Any]) -> str:
    return str((run.get("properties") or {}).get("imageName") or "")


def _tagged(result: dict[str, Any], image: str) -> dict[str, Any]:
    """The result with its image in the message and in each location's path (unless already there)."""
    result = json.loads(json.dumps(result))
    message = result.setdefault("message", {})
    if "text" in message and not message["text"].startswith(f"Image: {image}"):
        message["text"] = f"Image: {image}\n{message['text']}"
    for location in result.get("locations", []):
        artifact = location.get("physicalLocation", {}).get("artifactLocation")
        if artifact is not None and image not in artifact.get("uri", ""):
            artifact["uri"] = f"{image}/{artifact.get('uri', '')}".rstrip("/")
    return result


def merge(documents: list[dict[str, Any]], category: str) -> dict[str, Any]:
    """One SARIF document with one run holding every run's rules and results, in category `category`."""
    runs = [run for document in documents for run in document.get("runs", [])]
    if not runs:
        raise ValueError("no SARIF run to merge")
    tools = {run["tool"]["driver"].get("name") for run in runs}
    if len(tools) != 1:
        raise ValueError(f"runs of different tools cannot be one run: {sorted(map(str, tools))}")
    driver = {k: v for k, v in runs[0]["tool"]["driver"].items() if k != "rules"}
    rules: list[dict[str, Any]] = []
    index_of: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for run in runs:
        run_rules = run["tool"]["driver"].get("rules", [])
        for rule in run_rules:
            if rule["id"] not in index_of:
                index_of[rule["id"]] = len(rules)
                rules.append(rule)
        image = _image(run)
        for result in run.get("results", []):
            result = _tagged(result, image) if image else dict(result)
            rule_id = result.get("ruleId")
            if rule_id is None and "ruleIndex" in result:
                rule_id = run_rules[result["ruleIndex"]]["id"]
                result["ruleId"] = rule_id
            if rule_id in index_of:
                result["ruleIndex"] = index_of[rule_id]
            else:
                result.pop("ruleIndex", None)
            results.append(result)
    merged: dict[str, Any] = {
        "tool": {"driver": {**driver, "rules": rules}},
        "results": results,
        "automationDetails": {"id": category},
    }
    for key in ("columnKind", "originalUriBaseIds"):
        if key in runs[0]:
            merged[key] = runs[0][key]
    first = documents[0]
    return {"version": first.get("version", "2.1.0"), "$schema": first.get("$schema", SCHEMA), "runs": [merged]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", required=True, help="code scanning category (automationDetails.id)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    try:
        documents = [json.loads(path.read_text()) for path in args.files]
        merged = merge(documents, args.category)
    except (OSError, ValueError, KeyError) as error:
        print(f"sarif_merge: {error}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged))
    run = merged["runs"][0]
    counts = f"{len(run['results'])} results, {len(run['tool']['driver']['rules'])} rules"
    print(f"{args.out}: {len(args.files)} files as one run, {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
