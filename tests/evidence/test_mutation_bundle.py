"""Thousands of random single changes to a real bundle, every one caught by its verifier.

One realistic bundle (two runs of a case: screenshots, a DOM snapshot, a gate, an approval,
outputs; every seal signed and timestamped by a local TSA) is exported from a real store.
Then `MUTATIONS` seeded random changes, one at a time, of the kinds someone with a copy and
no key would try: flip a bit anywhere, delete, add or rename a member, edit any JSON value
in manifest.json or in an event, delete / reorder / duplicate / move events, and all of that
again with every hash, root and SHA256SUMS recomputed, or re-signed with their own key. Each
goes through the stdlib verifier in process (and a sample through `python3 -I`), told the
sender's fingerprint as a recipient would be; the untouched bundle passes both ways.
"""

from __future__ import annotations

import copy
import io
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evidence import verify_bundle as vb
from evidence.signing import Signer, init_key
from tests.evidence.bundles import (
    Members,
    detected,
    read_members,
    realistic_bundle,
    recompute,
    reseal,
    run_script,
    timestamped_store,
    zip_members,
)
from tests.evidence.tsa_server import LocalTSA

MUTATIONS = int(os.environ.get("AIJIA_BUNDLE_MUTATIONS", "2000"))
IN_SUBPROCESS = 20


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Members, str]:
    """The bundle, exported once for the module (a store, a local TSA and an export cost
    seconds); the TSA is only needed while the seals are timestamped."""
    folder = tmp_path_factory.mktemp("original")
    with LocalTSA(folder / "tsa") as tsa, timestamped_store(folder / "evidence", tsa.url) as store:
        path, _ = realistic_bundle(store, folder / "bundle.zip")
        assert store.signer is not None
        key_id = store.signer.key_id
    members = read_members(path)
    assert any(name.startswith("timestamps/") for name in members)
    return members, key_id


@pytest.fixture
def original(exported: tuple[Members, str]) -> tuple[Members, str]:
    """A copy of the exported members per test: no test sees another's edits."""
    members, key_id = exported
    return dict(members), key_id


# --------------------------------------------------------------------- single changes


def flip_bit(members: Members, rng: random.Random) -> Members:
    name = rng.choice(sorted(members))
    data = bytearray(members[name])
    if not data:
        return {**members, name: b"x"}
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return {**members, name: bytes(data)}


def delete_member(members: Members, rng: random.Random) -> Members:
    out = dict(members)
    del out[rng.choice(sorted(members))]
    return out


def add_member(members: Members, rng: random.Random) -> Members:
    folder = rng.choice(["", "screenshots/", "dom/", "timestamps/", "upload/"])
    return {**members, f"{folder}extra{rng.randrange(99)}.txt": rng.randbytes(rng.randrange(40))}


def rename_member(members: Members, rng: random.Random) -> Members:
    out = dict(members)
    name = rng.choice(sorted(members))
    out[name + rng.choice(["~", ".bak", "x"])] = out.pop(name)
    return out


def change_value(value: Any, rng: random.Random) -> Any:
    """`value` (freshly parsed: changed in place) with one random thing in it changed."""
    slots: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            slots.append((node, None))
            for key, child in node.items():
                slots.append((node, key))
                walk(child)
        elif isinstance(node, list):
            slots.append((node, None))
            for index, child in enumerate(node):
                slots.append((node, index))
                walk(child)

    walk(value)
    container, key = rng.choice(slots)
    if key is None and isinstance(container, dict):
        if container and rng.random() < 0.6:
            del container[rng.choice(sorted(container))]
        else:
            container["added"] = rng.choice([0, "", None, True])
    elif key is None:
        if len(container) > 1 and rng.random() < 0.5:
            i, j = rng.sample(range(len(container)), 2)
            container[i], container[j] = container[j], container[i]
        elif container and rng.random() < 0.5:
            container.pop(rng.randrange(len(container)))
        else:
            container.append(copy.deepcopy(container[0]) if container else 1)
    else:
        leaf = container[key]
        if isinstance(leaf, bool):
            container[key] = not leaf
        elif isinstance(leaf, int):
            container[key] = leaf + rng.choice([1, -1])
        elif isinstance(leaf, float):
            container[key] = leaf + 0.5
        elif isinstance(leaf, str):
            i = rng.randrange(len(leaf) + 1)
            container[key] = leaf[:i] + rng.choice("0aZ:-_ é") + leaf[i + 1 :]
        elif leaf is None:
            container[key] = 0
        else:
            container[key] = None
    return value


def edit_manifest(members: Members, rng: random.Random) -> Members:
    manifest = change_value(json.loads(members["manifest.json"]), rng)
    return {**members, "manifest.json": vb.canonical(manifest).encode()}


def events_of(members: Members) -> list[dict[str, Any]]:
    return [json.loads(line) for line in members["actions.jsonl"].decode().splitlines()]


def with_events(members: Members, events: list[dict[str, Any]]) -> Members:
    return {**members, "actions.jsonl": "".join(vb.canonical(e) + "\n" for e in events).encode()}


def edit_event(members: Members, rng: random.Random) -> Members:
    events = events_of(members)
    i = rng.randrange(len(events))
    events[i] = change_value(events[i], rng)
    return with_events(members, events)


def delete_event(members: Members, rng: random.Random) -> Members:
    events = events_of(members)
    del events[rng.randrange(len(events))]
    return with_events(members, events)


def reorder_events(members: Members, rng: random.Random) -> Members:
    events = events_of(members)
    i, j = rng.sample(range(len(events)), 2)
    events[i], events[j] = events[j], events[i]
    return with_events(members, events)


def insert_event(members: Members, rng: random.Random) -> Members:
    events = events_of(members)
    made = copy.deepcopy(rng.choice(events))
    made["data"] = {"note": "added later", "n": rng.randrange(1000)}
    events.insert(rng.randrange(len(events) + 1), made)
    return with_events(members, events)


def move_event(members: Members, rng: random.Random) -> Members:
    """An event moved to the other run."""
    events = events_of(members)
    runs = sorted({e["run_id"] for e in events})
    event = rng.choice(events)
    event["run_id"] = next(r for r in runs if r != event["run_id"])
    return with_events(members, events)


EVENT_CHANGES = [edit_event, delete_event, reorder_events, insert_event, move_event]


def attacker_key(tmp: Path) -> Signer:
    return init_key(tmp / "attacker.key")


def make_mutations(attacker: Signer) -> list[tuple[str, int, Callable[..., Members]]]:
    """(name, weight, change): the change takes (members, rng)."""

    def recomputed(members: Members, rng: random.Random) -> Members:
        return recompute(rng.choice(EVENT_CHANGES)(members, rng))

    def re_signed(members: Members, rng: random.Random) -> Members:
        return recompute(rng.choice(EVENT_CHANGES)(members, rng), attacker)

    def manifest_resealed(members: Members, rng: random.Random) -> Members:
        manifest = change_value(json.loads(members["manifest.json"]), rng)
        return reseal(members, manifest, attacker if rng.random() < 0.5 else None)

    def file_resealed(members: Members, rng: random.Random) -> Members:
        changed = flip_bit(members, rng)
        name = next(n for n in changed if changed[n] != members.get(n))
        if name in ("manifest.json", "SHA256SUMS"):
            return changed
        signer = attacker if rng.random() < 0.5 else None
        return reseal(changed, json.loads(changed["manifest.json"]), signer)

    return [
        ("flip a bit", 30, flip_bit),
        ("delete a member", 5, delete_member),
        ("add a member", 4, add_member),
        ("rename a member", 3, rename_member),
        ("edit manifest.json", 15, edit_manifest),
        ("edit an event", 10, edit_event),
        ("delete an event", 4, delete_event),
        ("reorder events", 4, reorder_events),
        ("insert an event", 4, insert_event),
        ("move an event to another run", 2, move_event),
        ("file changed, all hashes recomputed", 6, file_resealed),
        ("manifest edited, all hashes recomputed", 5, manifest_resealed),
        ("events changed, chain recomputed, no key", 4, recomputed),
        ("events changed, chain recomputed, re-signed", 4, re_signed),
    ]


# --------------------------------------------------------------------- the tests


def test_untouched_bundle_verifies_every_way(original: tuple[Members, str], tmp_path: Path) -> None:
    members, key_id = original
    report = vb.check(io.BytesIO(zip_members(members)), (key_id,))
    assert report.ok, report.problems
    shuffled = dict(random.Random(3).sample(sorted(members.items()), len(members)))
    assert vb.check(io.BytesIO(zip_members(shuffled)), (key_id,)).ok  # order, compression
    bundle = tmp_path / "untouched.zip"
    bundle.write_bytes(zip_members(members))
    out = run_script(vb_script(tmp_path), bundle, "--key", vb.fingerprint(key_id))
    assert out.returncode == 0, out.stdout + out.stderr
    assert vb.fingerprint(key_id) in out.stdout


def vb_script(tmp_path: Path) -> Path:
    """A trusted copy of the verifier (this checkout's), away from the bundle under test."""
    script = tmp_path / "trusted" / "verify_bundle.py"
    script.parent.mkdir(exist_ok=True)
    script.write_bytes((Path(vb.__file__)).read_bytes())
    return script


def test_every_random_single_change_is_detected(
    original: tuple[Members, str], tmp_path: Path
) -> None:
    members, key_id = original
    mutations = make_mutations(attacker_key(tmp_path))
    names = [m[0] for m in mutations]
    weights = [m[1] for m in mutations]
    changes = {m[0]: m[2] for m in mutations}
    rng = random.Random(20261101)
    missed: list[str] = []
    counts: dict[str, int] = dict.fromkeys(names, 0)
    sampled: list[tuple[str, Members]] = []
    started = time.monotonic()
    done = 0
    while done < MUTATIONS:
        name = rng.choices(names, weights)[0]
        seed = rng.randrange(2**32)
        mutated = changes[name](members, random.Random(seed))
        if mutated == members:
            continue  # the change happened to change nothing: not a mutation
        done += 1
        counts[name] += 1
        if not detected(mutated, key_id):
            missed.append(f"{name} (seed {seed})")
        if len(sampled) < IN_SUBPROCESS and done % (MUTATIONS // IN_SUBPROCESS or 1) == 0:
            sampled.append((name, mutated))
    elapsed = time.monotonic() - started
    assert not missed, f"{len(missed)} of {MUTATIONS} changes not detected: {missed[:10]}"
    assert all(counts.values()), counts
    print(f"{MUTATIONS} mutations checked in {elapsed:.1f} s: {counts}")

    script = vb_script(tmp_path)
    for index, (name, mutated) in enumerate(sampled):
        bundle = tmp_path / f"mutated-{index}.zip"
        bundle.write_bytes(zip_members(mutated))
        out = run_script(script, bundle, "--key", vb.fingerprint(key_id))
        assert out.returncode in (1, 2), f"{name}: {out.stdout}"
        assert "Traceback" not in out.stdout + out.stderr, out.stderr
        assert out.stdout.startswith(("BROKEN", "UNREADABLE")), out.stdout


def test_a_bundle_re_signed_with_another_key_passes_only_without_the_fingerprint(
    original: tuple[Members, str], tmp_path: Path
) -> None:
    """Recomputed and re-signed by someone else's key, a bundle is consistent: only the
    fingerprint, compared over another channel, tells. The verifier prints it and, given the
    right one, refuses the other."""
    members, key_id = original
    attacker = attacker_key(tmp_path)
    forged = recompute(delete_event(members, random.Random(1)), attacker)
    bundle = tmp_path / "forged.zip"
    bundle.write_bytes(zip_members(forged))
    script = vb_script(tmp_path)
    out = run_script(script, bundle)
    # the edited seals' timestamps (from the real TSA) name the old roots
    assert out.returncode == 1 and "timestamp" in out.stdout, out.stdout
    no_stamps = recompute(delete_event(strip_timestamps(members), random.Random(1)), attacker)
    bundle.write_bytes(zip_members(no_stamps))
    out = run_script(script, bundle)
    assert out.returncode == 0, out.stdout
    assert attacker.fingerprint in out.stdout and "compare this" in out.stdout
    out = run_script(script, bundle, "--key", vb.fingerprint(key_id))
    assert out.returncode == 1 and attacker.fingerprint in out.stdout, out.stdout


def strip_timestamps(members: Members) -> Members:
    manifest = json.loads(members["manifest.json"])
    for run in manifest["runs"]:
        for seal in run["manifests"]:
            seal["timestamp"] = None
    manifest["files"] = [f for f in manifest["files"] if not f["path"].startswith("timestamps/")]
    kept = {n: d for n, d in members.items() if not n.startswith("timestamps/")}
    return reseal(kept, manifest)
