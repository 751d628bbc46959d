"""prompts.yaml beyond single questions: turns, task targeting, structured output, and the
shipped suite covering every check kind; bad input stops with one line naming prompt and field."""

from pathlib import Path

import pytest

from bakeoff import load_prompts
from bakeoff.decide.checks import known_kinds
from bakeoff.errors import BakeoffError

ROOT = Path(__file__).resolve().parents[2]


def load(tmp_path, text):
    path = tmp_path / "prompts.yaml"
    path.write_text(text)
    return load_prompts(path)


def test_the_shipped_suites_use_every_check_kind():
    # The judge check lives in the opt-in suite: in the default one it would start a judge model.
    used = {spec.kind for prompt in load_prompts(ROOT / "prompts.yaml") for spec in prompt.checks}
    judged = {spec.kind for prompt in load_prompts(ROOT / "prompts-judged.yaml") for spec in prompt.checks}
    assert used | judged == set(known_kinds()) and "judge" not in used


def test_the_default_model_gets_every_shipped_prompt():
    # The default is a code model; course prompts carry no `tasks`, so every model gets them.
    prompts = load_prompts(ROOT / "prompts.yaml")
    assert all(p.fits("code") for p in prompts)
    assert [p.id for p in prompts if not p.fits("chat")] == ["python-is-palindrome"]


def test_turns_come_before_the_question(tmp_path):
    (prompt,) = load(
        tmp_path,
        """
prompts:
  - id: name
    system: Be brief.
    messages:
      - {role: user, content: My name is Ada.}
      - {role: assistant, content: Hello Ada.}
      - {role: user, content: "What is my name?"}
    checks: [{contains: Ada}]
""",
    )
    assert prompt.text == "What is my name?"
    assert [m["role"] for m in prompt.messages] == ["system", "user", "assistant", "user"]
    assert prompt.messages[-1]["content"] == "What is my name?"


def test_text_after_turns_is_the_last_user_turn(tmp_path):
    (prompt,) = load(tmp_path, "prompts:\n  - {id: a, messages: [{role: user, content: hi}, {role: assistant, content: hey}], text: bye, checks: [{contains: x}]}\n")
    assert [m["content"] for m in prompt.messages] == ["hi", "hey", "bye"]


def test_tasks_target_models(tmp_path):
    targeted, general = load(
        tmp_path,
        "prompts:\n  - {id: a, text: hi, tasks: [code, reasoning], checks: [{contains: x}]}\n  - {id: b, text: hi, checks: [{contains: x}]}\n",
    )
    assert targeted.fits("code") and targeted.fits("reasoning") and not targeted.fits("chat")
    assert general.fits("chat") and general.fits("anything")


def test_structured_output_requests(tmp_path):
    schema_prompt, object_prompt = load(
        tmp_path,
        """
prompts:
  - id: a
    text: city?
    response_format: json_schema
    checks: [{json_schema: {schema: {type: object, required: [city]}}}]
  - id: b
    text: colors?
    response_format: json_object
    checks: [{valid_json: }]
""",
    )
    requested = schema_prompt.request_options["response_format"]
    assert requested["type"] == "json_schema"
    # Both shapes: OpenAI-style servers read `schema`, Foundry Local reads the object itself.
    assert requested["json_schema"]["schema"] == {"type": "object", "required": ["city"]}
    assert requested["json_schema"]["required"] == ["city"]
    assert object_prompt.request_options["response_format"] == {"type": "json_object"}
    assert "response_format" not in load(tmp_path, "prompts:\n  - {id: c, text: x, checks: [{contains: x}]}\n")[0].request_options


@pytest.mark.parametrize(
    "body, expected",
    [
        ("prompts:\n  - {id: a, text: hi, checks: [{max_words: ten}]}\n",
         "prompt 0 (a): field 'checks.0': check 'max_words': argument 'limit': Input should be a valid integer"),
        ("prompts:\n  - {id: a, text: hi, checks: [{json_schema: {schema: {type: objekt}}}]}\n",
         "prompt 0 (a): field 'checks.0': invalid JSON Schema"),
        ("prompts:\n  - {id: a, text: hi, checks: [{python_function: {calls: [{args: [1]}]}}]}\n",
         "prompt 0 (a): field 'checks.0': check 'python_function': argument 'calls.0.expect': Field required"),
        ("prompts:\n  - {id: a, text: hi, response_format: json_schema, checks: [{valid_json: }]}\n",
         "prompt 0 (a): field 'response_format': json_schema needs a json_schema check"),
        ("prompts:\n  - {id: a, text: hi, response_format: yaml, checks: [{contains: x}]}\n",
         "prompt 0 (a): field 'response_format'"),
        ("prompts:\n  - {id: a, checks: [{contains: x}]}\n", "prompt 0 (a): field '(the entry itself)'"),
        ("prompts:\n  - {id: a, messages: [{role: user, content: hi}, {role: assistant, content: yo}], checks: [{contains: x}]}\n",
         "prompt 0 (a): field 'messages.1': the last turn must be the user's"),
        ("prompts:\n  - {id: a, messages: [{role: robot, content: hi}], checks: [{contains: x}]}\n", "prompt 0 (a): field 'messages.0.role'"),
        ("prompts:\n  - {id: a, text: hi, tasks: [], checks: [{contains: x}]}\n", "prompt 0 (a): field 'tasks'"),
    ],
)
def test_bad_prompt_names_prompt_and_field_in_one_line(tmp_path, body, expected):
    with pytest.raises(BakeoffError) as error:
        load(tmp_path, body)
    message = str(error.value)
    assert expected in message and "\n" not in message and message.startswith(str(tmp_path))
