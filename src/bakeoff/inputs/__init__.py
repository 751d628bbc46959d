"""Inputs: the model registry (models.json), the prompts and where they come from (a prompt
source; prompts.yaml is the built-in one), the project's settings ([tool.bakeoff] in
pyproject.toml) and the JSON Schemas that check them.

Everything a run reads from the user's files is loaded and validated here, once, with one line
naming the file, the entry and the field on error. This is the first stage: it imports no other
(the deciding stage checks the prompts' check arguments against its registry,
`bakeoff.decide.checks.validate_prompts`); never runtimes, measuring, deciding, storing or showing.
"""
