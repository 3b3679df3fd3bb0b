"""Shared fixtures: the browser pytest-playwright launches, and (below) the sandbox server."""

from __future__ import annotations

from typing import Any

import pytest

from agent.browser import launch_options
from agent.config import BrowserSettings


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright launches the same Chromium, with the same flags, as the agent."""
    return {**browser_type_launch_args, **launch_options(BrowserSettings())}
