"""The simulated seller centers (ShopLane, MarketHub, Storefront): the demo and test target.

Start them with ``aijia sandbox serve`` (or ``python -m sandbox``); in tests use the
``sandbox`` fixture from ``tests/conftest.py`` (see ``sandbox.testing``).
"""
