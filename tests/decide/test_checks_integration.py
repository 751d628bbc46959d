"""Answer checks on the real default model served by Foundry Local: the shipped prompts pass
their checks, structured output is honoured, and a check made to fail says why."""

from dataclasses import replace

import pytest

from bakeoff import load_prompts
from bakeoff.decide.checks import CheckSpec, run_check
from bakeoff.decide.evaluation import verdict_for
from bakeoff.inputs.prompts import Prompt, response_format
from bakeoff.measure.client import ChatClient

from ..conftest import REPO

pytestmark = pytest.mark.integration

JOKE_SCHEMA = {"type": "object", "required": ["joke"], "additionalProperties": False, "properties": {"joke": {"type": "string"}}}


@pytest.fixture(scope="module")
def client(served_default_model):
    client = ChatClient(served_default_model.url, served_default_model.model_id)
    yield client
    client.close()


@pytest.fixture(scope="module")
def shipped():
    return {p.id: p for p in load_prompts(REPO / "prompts.yaml")}


def ask_once(client, prompt: Prompt):
    prompt = replace(prompt, repeats=1)
    return verdict_for(prompt, [client.chat(prompt.messages, **prompt.request_options)])


def test_arithmetic_passes_its_equals_check(client, shipped):
    verdict = ask_once(client, shipped["arithmetic-7x6"])
    assert verdict.passed, verdict.failure_message
    assert verdict.check_records[0]["check"] == "equals: '42'" and verdict.pass_k


def test_the_sort_function_the_model_writes_runs_and_sorts(client, shipped):
    verdict = ask_once(client, shipped["python-sort-function"])
    by_kind = {record["check"].split(":")[0]: record for record in verdict.check_records}
    assert by_kind["python_function"]["passed"], verdict.failure_message
    detail = verdict.sample_records[0].checks[2].detail
    assert detail == "3 call(s) returned what was expected"


def test_a_json_schema_prompt_passes_with_structured_output(client, shipped):
    prompt = shipped["capital-city-json"]
    assert prompt.request_options["response_format"]["type"] == "json_schema"
    verdict = ask_once(client, prompt)
    assert verdict.passed, verdict.failure_message


def test_foundry_local_honours_the_requested_schema(client):
    # A question that gets prose unless the runtime constrains the answer to the schema.
    messages = [{"role": "user", "content": "Tell me a short joke."}]
    schema_check = CheckSpec("json_schema", {"schema": JOKE_SCHEMA})
    free = client.chat(messages, max_tokens=48, temperature=0)
    assert not run_check(schema_check, free.response).passed, free.response
    constrained = client.chat(messages, max_tokens=48, temperature=0, response_format=response_format("json_schema", JOKE_SCHEMA))
    outcome = run_check(schema_check, constrained.response)
    assert outcome.passed, (outcome.detail, constrained.response)
    as_object = client.chat(messages, max_tokens=48, temperature=0, response_format=response_format("json_object", None))
    assert run_check(CheckSpec("valid_json", None), as_object.response).passed, as_object.response


def test_a_check_made_to_fail_is_reported_failed_with_its_reason(client, shipped):
    prompt = replace(shipped["arithmetic-7x6"], checks=(CheckSpec("equals", "43"),))
    verdict = ask_once(client, prompt)
    assert not verdict.passed and not verdict.pass_k
    assert verdict.check_records[0] == {
        "check": "equals: '43'", "pass_rate": 0.0, "passes": 0, "attempts": 1, "pass_k": False, "passed": False}
    assert verdict.sample_records[0].checks[0].detail == "expected exactly '43'"
    message = verdict.failure_message
    assert "check equals: '43' passed 0 of 1 attempts" in message
    assert "prompt: 'What is 7 times 6?'" in message and "answer: '42'" in message
