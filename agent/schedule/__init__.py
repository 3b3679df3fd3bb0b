"""The built-in scheduler: runs that start themselves, never overlapping, never twice.

times.py   when a schedule fires: cron (with time zones) or intervals, misfire grace, jitter
fire.py    one fire: work out its rows, run the recipe once per row through the facade
daemon.py  the daemon: claims each slot once, one daemon per store, resumes approved runs
"""
