"""Drives modelgate's MLflow-compatible surface with the real MLflow deployments client.

Usage: python mlflow_client_check.py http://127.0.0.1:PORT
Prints one JSON line per check: {"check": name, "ok": bool, "detail": ...}; exits 1 on failure.
"""
import sys

from mlflow.deployments import get_deploy_client

from checks import check, finish


client = get_deploy_client(sys.argv[1])


@check("list_endpoints")
def _():
    eps = client.list_endpoints()
    got = {e.name: (e.endpoint_type, e.model.provider) for e in eps}
    assert got == {
        "chat": ("llm/v1/chat", "echo"),
        "completions": ("llm/v1/completions", "echo"),
        "embeddings": ("llm/v1/embeddings", "echo"),
        "churn": ("predict", "mlflow-model-serving"),
    }, got
    return sorted(got)


@check("get_endpoint")
def _():
    ep = client.get_endpoint(endpoint="chat")
    assert ep.name == "chat" and ep.endpoint_type == "llm/v1/chat", ep
    # MLflow 3's invocation path, as MLflow's own gateway reports it.
    assert ep.endpoint_url.endswith("/gateway/chat/invocations"), ep.endpoint_url
    return ep.endpoint_url


@check("predict_chat")
def _():
    res = client.predict(endpoint="chat", inputs={"messages": [{"role": "user", "content": "hello mlflow"}], "max_tokens": 50})
    assert res["object"] == "chat.completion", res
    assert res["choices"][0]["message"]["content"] == "echo: hello mlflow", res
    assert res["usage"]["total_tokens"] == 5, res
    return res["choices"][0]["message"]


@check("predict_completions")
def _():
    res = client.predict(endpoint="completions", inputs={"prompt": "once upon", "temperature": 0.1})
    assert res["choices"][0]["text"] == "echo: once upon", res
    return res["choices"][0]["text"]


@check("predict_embeddings")
def _():
    res = client.predict(endpoint="embeddings", inputs={"input": ["a b", "c"]})
    assert [d["index"] for d in res["data"]] == [0, 1], res
    assert len(res["data"][0]["embedding"]) == 8, res
    return len(res["data"])


@check("predict_model")
def _():
    res = client.predict(endpoint="churn", inputs={"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}})
    assert res["predictions"] == [3, 7], res
    return res


@check("unknown_endpoint_error")
def _():
    try:
        client.predict(endpoint="nope", inputs={"prompt": "x"})
    except Exception as e:  # noqa: BLE001
        # MLflow's gateway has no route for an unknown endpoint: 404 {"detail": "Not Found"}.
        assert "404" in str(e) and "Not Found" in str(e), str(e)
        return str(e)[:200]
    raise AssertionError("expected an error")


finish()
