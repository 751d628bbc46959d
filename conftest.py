"""Project-level pytest configuration.

The bakeoff plugin itself is registered through the package's `pytest11` entry point, so it is
active for every pytest run in this environment; this file is where a project adds its own
fixtures and answer checks (see README.md, "Add a prompt": a check of your own).
"""
