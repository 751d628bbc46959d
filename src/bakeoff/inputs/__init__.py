"""Inputs: the model registry (models.json), the prompts (prompts.yaml), the project's settings
([tool.bakeoff] in pyproject.toml) and the JSON Schemas that check them.

Everything a run reads from the user's files is loaded and validated here, once, with one line
naming the file, the entry and the field on error. Never imports runtimes, measuring, deciding,
storing or showing.
"""
