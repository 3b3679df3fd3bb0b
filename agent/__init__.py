"""Aijia: a headless back-office agent that follows declarative recipes.

Heavy dependencies (Playwright, LLM libraries, the sandbox) are imported lazily by the
modules that need them, so that `aijia --help` stays fast.
"""

__version__ = "0.1.0"
