"""MLflow's own deployments client (mlflow 3.8.1, `get_deploy_client`) against one gateway.

Usage: python deploy_client.py http://127.0.0.1:PORT
Prints one JSON line per call: {"call": name, "ok": bool, "value": ...}. The values are what a
program using the client sees (ids and timestamps, which differ per answer, are replaced by their
kind), so the lines from MLflow's gateway and from modelgate can be compared as they are.
"""

import json
import re
import sys

from mlflow.deployments import get_deploy_client

base = sys.argv[1]
client = get_deploy_client(base)


def normalise(value):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "created" and isinstance(v, int):
                out[k] = "<unix time>"
            elif k == "id" and isinstance(v, str) and re.fullmatch(r"(chatcmpl|cmpl|call)[-_]fake\d+", v):
                out[k] = "<upstream id>"
            else:
                out[k] = normalise(v)
        return out
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return value.replace(base, "<base>")
    return value


def call(name, fn):
    try:
        value = fn()
        print(json.dumps({"call": name, "ok": True, "value": normalise(value)}), flush=True)
    except Exception as e:  # noqa: BLE001 - the error a program gets is the result
        print(json.dumps({"call": name, "ok": False, "value": f"{type(e).__name__}: {normalise(str(e))}"}), flush=True)


def endpoint_dict(e):
    return e.model_dump() if hasattr(e, "model_dump") else e.dict()


call("list_endpoints", lambda: [endpoint_dict(e) for e in client.list_endpoints()])
call("get_endpoint", lambda: endpoint_dict(client.get_endpoint(endpoint="chat")))
call("get_endpoint (limited)", lambda: endpoint_dict(client.get_endpoint(endpoint="limited")))
call("get_endpoint (unknown)", lambda: endpoint_dict(client.get_endpoint(endpoint="nope")))
call("predict chat", lambda: client.predict(endpoint="chat", inputs={"messages": [{"role": "user", "content": "hello mlflow"}], "max_tokens": 50}))
call("predict chat with parameters", lambda: client.predict(endpoint="chat", inputs={"messages": [{"role": "user", "content": "a b c d"}], "temperature": 0.3, "stop": ["c"]}))
call("predict completions", lambda: client.predict(endpoint="completions", inputs={"prompt": "once upon", "temperature": 0.1}))
call("predict embeddings", lambda: client.predict(endpoint="embeddings", inputs={"input": ["a b", "c"]}))
call("predict with a bad payload", lambda: client.predict(endpoint="chat", inputs={"messages": "nope"}))
call("predict with model in the payload", lambda: client.predict(endpoint="chat", inputs={"messages": [{"role": "user", "content": "x"}], "model": "m"}))
call("predict on an unknown endpoint", lambda: client.predict(endpoint="nope", inputs={"prompt": "x"}))
call("predict, upstream refuses", lambda: client.predict(endpoint="chat", inputs={"messages": [{"role": "user", "content": "#status:400 x"}]}))
# MLflow's client for a gateway URL has no streaming call: it raises NotImplementedError.
call("predict_stream", lambda: list(client.predict_stream(endpoint="chat", inputs={"messages": [{"role": "user", "content": "x"}]})))
