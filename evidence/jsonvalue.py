"""Plain JSON values for the store: what is hashed is exactly what is stored and read back."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any

from evidence.hashing import canonical_json

_SURROGATE = re.compile("[\ud800-\udfff]")


def to_json_value(value: Any) -> Any:
    """Convert to dict/list/str/int/float/bool/None; money (Decimal) becomes its exact string."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        # Lone surrogates (broken pages produce them) cannot be stored as UTF-8.
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, Enum):
        return to_json_value(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json_value(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {to_json_value(str(k)): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((to_json_value(v) for v in value), key=canonical_json)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def dumps(value: Any) -> str:
    return canonical_json(value)


def loads(text: str) -> Any:
    return json.loads(text)
