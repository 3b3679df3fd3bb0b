"""Two-step logins and human hand-offs: `totp`, `handoff`.

The agent never bypasses a challenge page (CAPTCHA, "Security check"): `handoff` asks a human
to act in the browser. Headed, it waits until the human is done; headless, nobody can act, so
the run is paused (state `paused`, reason `handoff`) with a screenshot of the page.

Example::

    - totp: {label: Verification code, secret: totp_secret}   # site credential or {$env: …}
    - handoff:
        message: Solve the security check in the browser window
        until: {visible: {role: heading, name: Orders}}
      timeout: 300
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, model_validator

from agent.browser.selectors import Selector
from agent.core.secrets import SecretRef
from agent.steps.base import Params, Step

if TYPE_CHECKING:
    from agent.engine.context import RunContext


class TotpParams(Selector):
    secret: str | SecretRef = Field(
        description="Site credential name (e.g. totp_secret) or a reference ({$env: NAME})."
    )
    digits: int = Field(6, ge=6, le=8, description="Code length.")
    interval: int = Field(30, gt=0, description="Seconds per code.")


class Totp(Step):
    """Type the current RFC 6238 code for a TOTP secret into a field.

    Example::

        - totp: {label: Verification code, secret: totp_secret}
    """

    key: ClassVar[str] = "totp"
    effect: ClassVar = "stage"
    totp: TotpParams = Field(description="The field and the TOTP secret.")

    async def run(self, ctx: RunContext) -> None:
        import pyotp

        p = self.totp
        generator = pyotp.TOTP(ctx.secret(p.secret), digits=p.digits, interval=p.interval)
        left = p.interval - (time.time() % p.interval)
        if left < 3:  # the code would expire while the form is submitted
            await asyncio.sleep(left + 0.2)
        code = generator.now()
        ctx.register_secret(code)
        timeout = ctx.timeout_ms(self)
        await ctx.on_element(p, lambda loc: loc.fill(code, timeout=timeout), timeout_ms=timeout)


class HandoffUntil(Params):
    visible: Selector | None = Field(None, description="Done when this element is visible.")
    hidden: Selector | None = Field(None, description="Done when this element is gone.")
    url: str | None = Field(None, description="Done when the URL matches this glob.")

    @model_validator(mode="after")
    def _one(self) -> HandoffUntil:
        if sum(v is not None for v in (self.visible, self.hidden, self.url)) != 1:
            raise ValueError("`until` needs exactly one of visible, hidden, url")
        return self


class HandoffParams(Params):
    message: str = Field(description="What the human should do.")
    until: HandoffUntil | None = Field(
        None, description="When the human is done (default: the challenge page is gone)."
    )


class Handoff(Step):
    """Ask a human to act in the browser; pause the run when nobody can (headless).

    Example::

        - handoff: {message: Solve the security check, until: {hidden: {text: Security check}}}
          timeout: 300
    """

    key: ClassVar[str] = "handoff"
    effect: ClassVar = "read"
    handoff: HandoffParams = Field(description="The request to the human.")

    async def run(self, ctx: RunContext) -> None:
        p = self.handoff
        await ctx.handoff(
            str(ctx.render(p.message)),
            until_visible=p.until.visible if p.until else None,
            until_hidden=p.until.hidden if p.until else None,
            until_url=p.until.url if p.until else None,
            timeout_ms=(self.timeout or 300) * 1000,
        )
