"""Validates gateway answers with the openai Python SDK's own models, in pydantic strict mode.

Usage: python sdk_models_check.py ANSWERS.jsonl
Each input line is {"label", "model", "body"}; "model" names the SDK type the SDK would build
from that body (ChatCompletion, ChatCompletionChunk, Completion, CreateEmbeddingResponse, Model,
ModelList, ErrorResponse, Response, ResponseItemList, ResponseStreamEvent, Conversation,
ConversationDeletedResource, ConversationItem, ConversationItemList). Prints one JSON line per input: {"check": label, "ok": bool,
"detail": ...}. Strict mode: no coercion (a "1" is not an int, a null is not a literal).
"""
import base64
import json
import struct
import sys

from openai.types import Completion, CreateEmbeddingResponse, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.conversations import Conversation, ConversationDeletedResource, ConversationItem, ConversationItemList
from openai.types.responses import Response, ResponseItemList, ResponseStreamEvent
from openai.types.shared import ErrorObject
from pydantic import TypeAdapter

MODELS = {
    "ChatCompletion": ChatCompletion,
    "ChatCompletionChunk": ChatCompletionChunk,
    "Completion": Completion,
    "CreateEmbeddingResponse": CreateEmbeddingResponse,
    "Model": Model,
    "Response": Response,
    "ResponseItemList": ResponseItemList,
    "Conversation": Conversation,
    "ConversationDeletedResource": ConversationDeletedResource,
    "ConversationItemList": ConversationItemList,
}
CONVERSATION_ITEM = TypeAdapter(ConversationItem)
STREAM_EVENT = TypeAdapter(ResponseStreamEvent)


def validate(model, body):
    if model == "ModelList":
        assert body.get("object") == "list", body
        for item in body["data"]:
            Model.model_validate_json(json.dumps(item), strict=True)
        return len(body["data"])
    if model == "ErrorResponse":
        # The SDK reads `error` of an error body into its APIError (ErrorObject's fields).
        ErrorObject.model_validate_json(json.dumps(body["error"]), strict=True)
        return body["error"]["type"]
    if model == "ConversationItem":
        CONVERSATION_ITEM.validate_json(json.dumps(body), strict=True)
        return body["type"]
    if model == "ResponseStreamEvent":
        STREAM_EVENT.validate_json(json.dumps(body), strict=True)
        return body["type"]
    if model == "CreateEmbeddingResponse":
        # As the SDK does for base64 answers (embeddings.create's parser): decode to floats first.
        for item in body["data"]:
            if isinstance(item["embedding"], str):
                raw = base64.b64decode(item["embedding"])
                item["embedding"] = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    MODELS[model].model_validate_json(json.dumps(body), strict=True)
    return model


def main():
    failed = False
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            item = json.loads(line)
            try:
                detail, ok = validate(item["model"], item["body"]), True
            except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
                detail, ok = f"{type(e).__name__}: {e}", False
            failed = failed or not ok
            print(json.dumps({"check": item["label"], "ok": ok, "detail": detail}), flush=True)
    sys.exit(1 if failed else 0)


main()
