"""Inputs: the model registry (models.json), the prompts (prompts.yaml), the project's settings
([tool.bakeoff] in pyproject.toml) and the JSON Schemas that check them.

Everything a run reads from the user's files is loaded and validated here, once, with one line
naming the file, the entry and the field on error. Prompts' checks are validated against the
check registry (`bakeoff.decide.checks`), the only other stage it imports; never runtimes,
measuring, storing or showing.
"""
