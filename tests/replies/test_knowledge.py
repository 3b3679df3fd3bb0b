"""Knowledge files: front matter is validated with errors that name the file, the ones a
reply uses are recorded with id, version and content hash, and an overdue review warns (in
the draft's record and in `aijia doctor`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from agent.core.settings import PROJECT_ROOT, load_config
from agent.doctor import _knowledge
from agent.replies.channels import channel
from agent.replies.draft import compose
from agent.replies.knowledge import KnowledgeError, knowledge_root, load_knowledge

GOOD = """---
id: {id}
title: Refund policy
owner: cs-lead
version: {version}
review_by: {review_by}
facts:
  refund_days: 7
---
Refunds go back to the original payment method.
"""


def _good(version: int, review_by: str) -> str:
    return GOOD.format(id="refund_policy", version=version, review_by=review_by)


def _write(root: Path, name: str, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("missing", ["id", "owner", "version", "review_by", "title"])
def test_a_missing_front_matter_field_is_named_with_the_file(tmp_path: Path, missing: str):
    text = GOOD.format(id="refund_policy", version=3, review_by="2099-01-01")
    text = "\n".join(line for line in text.splitlines() if not line.startswith(f"{missing}:"))
    path = _write(tmp_path, "refund_policy", text)
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(tmp_path, ["refund_policy"])
    assert str(path) in err.value.message
    assert f"{missing}: missing" in err.value.message
    assert err.value.exit_code == 2 and err.value.hint


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Just text, no front matter\n", "has no front matter"),
        ("---\nid: refund_policy\n", "not closed by a --- line"),
        ("---\n- a list\n---\nbody\n", "front matter is not a mapping"),
        (GOOD.format(id="other", version=1, review_by="2099-01-01"), "its id is 'other'"),
        (GOOD.format(id="refund_policy", version=1, review_by="soon"), "review_by"),
    ],
)
def test_malformed_knowledge_files_are_refused_clearly(tmp_path: Path, text: str, says: str):
    path = _write(tmp_path, "refund_policy", text)
    with pytest.raises(KnowledgeError, match=says) as err:
        load_knowledge(tmp_path, ["refund_policy"])
    assert str(path) in err.value.message


def test_an_unknown_knowledge_id_lists_the_known_ones(tmp_path: Path):
    _write(
        tmp_path,
        "refund_policy",
        _good(1, "2099-01-01"),
    )
    with pytest.raises(KnowledgeError, match="no knowledge file 'refund_polcy'") as err:
        load_knowledge(tmp_path, ["refund_polcy"])
    assert "known: refund_policy" in (err.value.hint or "")


def test_knowledge_used_records_versions_and_hashes_and_facts_fill_the_wording(tmp_path: Path):
    path = _write(
        tmp_path,
        "refund_policy",
        _good(4, "2099-01-01"),
    )
    knowledge = load_knowledge(tmp_path, ["refund_policy"])
    facts = {"order_id": "260101ABCDEFGH", "amount": "9.90 EUR"}
    draft = compose(channel("whatsapp"), "refund_offer", facts, knowledge)
    assert "within 7 working days" in draft.text  # refund_days from the file
    [used] = draft.as_output()["knowledge_used"]
    assert used["id"] == "refund_policy" and used["version"] == "4"
    assert used["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert used["overdue"] is False


def test_an_overdue_review_warns_in_doctor(tmp_path: Path):
    folder = tmp_path / "knowledge"
    _write(folder, "refund_policy", _good(2, "2020-01-31"))
    config = tmp_path / "config.yaml"
    config.write_text("data_dir: var\n", encoding="utf-8")
    settings = load_config(config)
    assert knowledge_root(settings) == folder  # the default: knowledge/ next to config.yaml
    check = _knowledge(settings)
    assert check.ok
    assert "warning: review overdue for refund_policy v2 (due 2020-01-31, owner cs-lead)" in (
        check.detail
    )
    [item] = load_knowledge(folder, ["refund_policy"])
    assert item.overdue() and item.used()["overdue"] is True
    _write(folder, "broken", "no front matter\n")
    broken = _knowledge(settings)
    assert not broken.ok and "broken.md has no front matter" in broken.detail


def test_the_shipped_knowledge_is_valid_and_found_from_the_repo_config():
    settings = load_config(PROJECT_ROOT / "config.yaml")
    root = knowledge_root(settings)
    assert root == PROJECT_ROOT / "recipes" / "knowledge"
    ids = sorted(p.stem for p in root.glob("*.md"))
    assert {"refund_policy", "shipping_delays"} <= set(ids)
    for item in load_knowledge(root, ids):
        assert item.front.owner and item.front.version and item.front.review_by  # dated


def test_aijia_init_writes_the_knowledge_samples_where_the_config_finds_them(tmp_path: Path):
    from agent.project_template import scaffold

    written = scaffold(tmp_path / "team")
    root = knowledge_root(load_config(tmp_path / "team" / "config.yaml"))
    assert root == tmp_path / "team" / "knowledge"
    samples = sorted(p.stem for p in root.glob("*.md"))
    assert "refund_policy" in samples and all(root / f"{s}.md" in written for s in samples)
    assert [k.id for k in load_knowledge(root, samples)] == samples
