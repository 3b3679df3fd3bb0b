#!/usr/bin/env python3
"""Verify an Aijia evidence bundle with nothing but Python's standard library (3.8+).

Usage:  python3 verify_bundle.py [BUNDLE.zip | DIRECTORY]     (default: this file's folder)

Checks, and names the first problem of each kind:
  1. manifest.json is sealed: its root_hash is the sha256 of its canonical JSON without it;
  2. every file it lists exists with that size and sha256, and nothing else is in the bundle;
  3. actions.jsonl: every run's events chain, hash = sha256(prev_hash + canonical JSON of
     {run_id, seq, kind, data, artifacts, at}), the first prev_hash being 64 zeros, and the
     chain matches the manifest's;
  4. each run's sealed manifest (from the store) has its root hash and agrees with the chain;
  5. every artifact an event names is in the bundle with those exact bytes, or is listed as
     omitted with a reason (e.g. not accepted by an upload profile).
Canonical JSON: json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).
Exit status 0 when everything holds, 1 otherwise.

A captured page is checked as its recorded bytes, dom/<sha256>.html.txt (text, so a browser
never runs it). The dom/<sha256>.view.html next to it is an inert copy made at export, listed
with its own hash and `derived_from`; like the files in upload/, it is checked by hash only.

This file is copied into every bundle; it imports nothing from Aijia.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from typing import Any

GENESIS = "0" * 64
NOT_LISTED = ("manifest.json", "SHA256SUMS")
PAYLOAD = ("run_id", "seq", "kind", "data", "artifacts", "at")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def root_hash(manifest: dict[str, Any]) -> str:
    return sha256_hex(canonical({k: v for k, v in manifest.items() if k != "root_hash"}))


class Bundle:
    """Read files from a zip or a directory alike."""

    def __init__(self, location: str) -> None:
        self.zip = zipfile.ZipFile(location) if zipfile.is_zipfile(location) else None
        self.base = location

    def names(self) -> set[str]:
        if self.zip is not None:
            return {n for n in self.zip.namelist() if not n.endswith("/")}
        found = set()
        for folder, _dirs, files in os.walk(self.base):
            for name in files:
                if name.endswith(".pyc"):
                    continue
                full = os.path.join(folder, name)
                found.add(os.path.relpath(full, self.base).replace(os.sep, "/"))
        return found

    def read(self, name: str) -> bytes:
        if self.zip is not None:
            return self.zip.read(name)
        with open(os.path.join(self.base, *name.split("/")), "rb") as fh:
            return fh.read()


def check(location: str) -> list[str]:
    """The problems found (an empty list when the bundle verifies)."""
    bundle = Bundle(location)
    names = bundle.names()
    if "manifest.json" not in names:
        return ["manifest.json is missing"]
    manifest = json.loads(bundle.read("manifest.json").decode("utf-8"))
    problems = []
    if root_hash(manifest) != manifest.get("root_hash"):
        problems.append("manifest.json: edited (its root_hash does not match its contents)")
    listed = {entry["path"]: entry for entry in manifest.get("files", [])}
    for path, entry in listed.items():
        if path not in names:
            problems.append(f"{path}: missing")
            continue
        data = bundle.read(path)
        if len(data) != entry["size"] or sha256_hex(data) != entry["sha256"]:
            problems.append(f"{path}: changed (sha256 or size differs from manifest.json)")
    for name in sorted(names - set(listed) - set(NOT_LISTED)):
        problems.append(f"{name}: not listed in manifest.json")
    if "actions.jsonl" not in names:
        return [*problems, "actions.jsonl is missing"]
    return problems + check_chains(bundle.read("actions.jsonl"), manifest, listed)


def check_chains(
    actions: bytes, manifest: dict[str, Any], listed: dict[str, dict[str, Any]]
) -> list[str]:
    problems = []
    events: dict[str, list[dict[str, Any]]] = {}
    for number, line in enumerate(actions.decode("utf-8").splitlines(), 1):
        if line.strip():
            event = json.loads(line)
            event["_line"] = number
            events.setdefault(event["run_id"], []).append(event)
    included = {e["artifact"] for e in listed.values() if e.get("artifact")}
    included &= {e["sha256"] for e in listed.values()}  # exact bytes, not a derived copy
    omitted = {o["artifact"] for o in manifest.get("omitted", [])}
    for run in manifest.get("runs", []):
        run_id = run["run_id"]
        chain = events.pop(run_id, [])
        prev = GENESIS
        for expected, event in enumerate(chain, 1):
            where = f"actions.jsonl line {event['_line']} (run {run_id}, event {expected})"
            if event["seq"] != expected:
                problems.append(f"{where}: row removed or reordered (seq {event['seq']})")
                break
            if event["prev_hash"] != prev:
                problems.append(f"{where}: chain broken (prev_hash differs)")
                break
            if sha256_hex(prev + canonical({k: event[k] for k in PAYLOAD})) != event["hash"]:
                problems.append(f"{where}: row changed (hash differs)")
                break
            for sha in event["artifacts"]:
                if sha not in included and sha not in omitted:
                    problems.append(f"{where}: artifact {sha} neither included nor omitted")
            prev = event["hash"]
        recorded = [[c["seq"], c["hash"]] for c in run.get("chain", [])]
        if recorded != [[e["seq"], e["hash"]] for e in chain]:
            problems.append(f"run {run_id}: the chain in actions.jsonl differs from manifest.json")
        sealed = run.get("manifest")
        if sealed:
            if root_hash(sealed) != sealed.get("root_hash"):
                problems.append(f"run {run_id}: sealed manifest edited (root hash)")
            count = sealed.get("event_count", 0)
            prefix = [{"seq": e["seq"], "kind": e["kind"], "hash": e["hash"]} for e in chain]
            if sealed.get("chain") != prefix[:count] or count > len(chain):
                problems.append(f"run {run_id}: sealed manifest disagrees with the chain")
    for run_id in sorted(events):
        problems.append(f"actions.jsonl: events of run {run_id}, which manifest.json lacks")
    return problems


def main(argv: list[str]) -> int:
    location = argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    problems = check(location)
    if problems:
        print(f"BROKEN: {len(problems)} problem(s)")
        for problem in problems:
            print("  " + problem)
        return 1
    manifest = json.loads(Bundle(location).read("manifest.json").decode("utf-8"))
    files, runs = len(manifest.get("files", [])), len(manifest.get("runs", []))
    print(f"OK: {files} file(s), {runs} run(s); bundle root hash {manifest['root_hash']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
