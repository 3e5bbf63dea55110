"""Drives modelgate's OpenAI-compatible surface with the official `openai` Python package.

Usage: python openai_client_check.py BASE_URL API_KEY
Prints one JSON line per check: {"check": name, "ok": bool, "detail": ...}; exits 1 on failure.
"""
import sys

import openai
from openai import OpenAI

from checks import check, finish


base_url, api_key = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0)


@check("chat")
def _():
    res = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hello python"}])
    assert res.choices[0].message.content == "echo: hello python", res
    assert res.usage.total_tokens == 5, res.usage
    return res.choices[0].message.content


@check("chat_stream_usage")
def _():
    stream = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "a b c"}], stream=True, stream_options={"include_usage": True}
    )
    text, usage = "", None
    for chunk in stream:
        for c in chunk.choices:
            text += c.delta.content or ""
        usage = chunk.usage or usage
    assert text == "echo: a b c", text
    assert usage is not None and usage.total_tokens == 7, usage
    return text


@check("embeddings")
def _():
    res = client.embeddings.create(model="embeddings", input=["abc", "de"])
    assert [d.index for d in res.data] == [0, 1], res
    assert len(res.data[0].embedding) == 8, res
    return len(res.data)


@check("models")
def _():
    ids = [m.id for m in client.models.list()]
    assert ids == ["chat", "completions", "embeddings", "greet"], ids
    return ids


@check("template_variables")
def _():
    # The endpoint's prompt template renders the prompt from the variables (an extra body field).
    res = client.chat.completions.create(model="greet", messages=[], extra_body={"template_variables": {"name": "Ada", "n": 3}})
    assert res.choices[0].message.content == "echo: Hello Ada, 3 times", res
    try:
        client.chat.completions.create(model="greet", messages=[], extra_body={"template_variables": {"name": "Ada", "n": "three"}})
    except openai.BadRequestError as e:
        assert "template_variables.n: template greet@1 wants a number" in str(e), str(e)
        return res.choices[0].message.content
    raise AssertionError("expected BadRequestError")


@check("not_found_error")
def _():
    try:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    except openai.NotFoundError as e:
        assert 'unknown endpoint "nope"' in str(e), str(e)
        return e.status_code
    raise AssertionError("expected NotFoundError")


@check("bad_request_error")
def _():
    try:
        client.chat.completions.create(model="chat", messages=[])
    except openai.BadRequestError as e:
        assert "messages: at least one message is required" in str(e), str(e)
        return e.status_code
    raise AssertionError("expected BadRequestError")


@check("authentication_error")
def _():
    bad = OpenAI(base_url=base_url, api_key="sk-wrong-0000000000000", max_retries=0)
    try:
        bad.models.list()
    except openai.AuthenticationError as e:
        return e.status_code
    raise AssertionError("expected AuthenticationError")


finish()
