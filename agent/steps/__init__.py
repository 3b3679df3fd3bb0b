"""The step registry: YAML key -> step class, one module per step family.

| family   | steps                                       | module             |
| -------- | ------------------------------------------- | ------------------ |
| navigate | goto, wait_for                              | steps/navigate.py  |
| interact | click, fill, select, check, press           | steps/interact.py  |
| extract  | extract                                     | steps/extract.py   |
| expect   | expect                                      | steps/expect.py    |
| capture  | screenshot, snapshot                        | steps/capture.py   |
| flow     | set, if, for_each, call                     | steps/flow.py      |
| auth     | totp, handoff                               | steps/auth.py      |
| gate     | gate                                        | steps/gate.py      |
| ai       | ai_extract                                  | steps/ai.py        |
| reply    | draft_reply                                 | steps/reply.py     |
| agent    | agent (a browser-use sub-task, read-only)   | steps/agent_task.py |

`AnyStep` is the discriminated union pydantic validates a step against: the discriminator is
the one registry key present in the step mapping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Discriminator, Tag

from agent.steps.agent_task import AgentTask
from agent.steps.ai import AiExtract
from agent.steps.auth import Handoff, Totp
from agent.steps.base import Params, PauseRun, Step
from agent.steps.capture import Screenshot, Snapshot
from agent.steps.expect import Expect
from agent.steps.extract import Extract
from agent.steps.flow import Call, ForEach, IfStep, SetStep
from agent.steps.gate import Gate
from agent.steps.interact import Check, Click, Fill, Press, Select
from agent.steps.navigate import Goto, WaitFor
from agent.steps.reply import DraftReply

STEP_TYPES: dict[str, type[Step]] = {
    cls.key: cls
    for cls in (
        Goto,
        WaitFor,
        Click,
        Fill,
        Select,
        Check,
        Press,
        Extract,
        Expect,
        Screenshot,
        Snapshot,
        SetStep,
        IfStep,
        ForEach,
        Call,
        Totp,
        Handoff,
        Gate,
        AiExtract,
        AgentTask,
        DraftReply,
    )
}

# Keys every step may have besides its action key (see steps/base.py).
COMMON_KEYS = frozenset(Step.model_fields)


def step_keys(data: Any) -> list[str]:
    """The registry keys present in a raw step mapping."""
    if isinstance(data, dict):
        return [k for k in data if k in STEP_TYPES]
    return []


def _discriminate(data: Any) -> str | None:
    if isinstance(data, Step):
        return data.key
    keys = step_keys(data)
    return keys[0] if len(keys) == 1 else None


if TYPE_CHECKING:
    AnyStep = Step  # for mypy; pydantic sees the discriminated union below
else:
    AnyStep = Annotated[
        Union[tuple(Annotated[cls, Tag(key)] for key, cls in STEP_TYPES.items())],  # noqa: UP007
        Discriminator(_discriminate),
    ]

for _nested in (IfStep, ForEach):
    _nested.model_rebuild(_types_namespace={"AnyStep": AnyStep})

__all__ = ["COMMON_KEYS", "STEP_TYPES", "AnyStep", "Params", "PauseRun", "Step", "step_keys"]


def step_reference() -> list[dict[str, Any]]:
    """Every step kind as data, for `aijia recipes steps`: always in sync with the code."""
    import inspect
    import textwrap

    from pydantic import BaseModel

    out = []
    for key, cls in STEP_TYPES.items():
        doc = inspect.getdoc(cls) or ""
        summary, _, rest = doc.partition("\n")
        example = rest.split("Example::", 1)[1].strip("\n") if "Example::" in rest else ""
        action = cls.model_fields[next(f for f in cls.model_fields if f in (key, f"{key}_"))]
        params: list[tuple[str, str]] = []
        annotation = action.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for name, info in annotation.model_fields.items():
                params.append((info.alias or name, info.description or ""))
        else:
            params.append((key, action.description or ""))
        siblings = [
            (f.alias or n, f.description or "")
            for n, f in cls.model_fields.items()
            if n not in COMMON_KEYS and f is not action
        ]
        out.append(
            {
                "key": key,
                "family": cls.__module__.rsplit(".", 1)[-1],
                "effect": cls.effect,
                "summary": summary.strip(),
                "example": textwrap.dedent(example).strip("\n"),
                "params": params + siblings,
            }
        )
    return out
