"""Chromium and what happens in it, below the recipe steps.

launch.py       find a usable Chromium and launch it with the flags a closed network needs
sessions.py     saved logins (storage state per site and account, mode 0600)
login.py        logging in once and reusing it: a recipe's `session:`
guard.py        where the agent itself may go: the site's exact origins, checked before a goto
containment.py  what the page may reach: proxy settings + a sinkhole; blocked attempts recorded
pool.py         browser contexts reused between the read-only runs of a batch
selectors.py    how a recipe names an element, turned into a Playwright locator
elements.py     finding elements strictly, with errors a person can act on
challenge.py    challenge pages and human hand-offs (never solved or bypassed)
"""
