"""README's "Python API" example is real: it runs, as written, against the sandbox."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, "the Python API section has one runnable example"
    return blocks[0]


def test_readme_example_runs(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["data_dir"] = str(tmp_path / "var")
    for name, url in sandbox.base_urls.items():
        config["sites"][name]["base_url"] = url.rstrip("/")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    order = next(
        o for o in sandbox.find_orders("shoplane", "partially_refunded") if float(o.refundable) > 2
    )
    monkeypatch.setenv("AIJIA_CONFIG", str(path))
    monkeypatch.setenv("ORDER_ID", order.order_id)
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)

    exec(compile(readme_example(), "README.md (Python API)", "exec"), {})

    printed = capsys.readouterr().out
    assert "separation of duties" in printed  # the initiator was refused
    refunds = [r for r in sandbox.ledger("shoplane")["refunds"] if r["order_id"] == order.order_id]
    new = [r for r in refunds if r["amount"] == "1.00" and r["reason"] == "damaged"]
    assert len(new) == 1, refunds  # approved once, committed once
    assert new[0]["refund_id"] in printed
