"""A tiny harness for the interop scripts: each check prints one JSON line; failures set the exit code."""
import json
import sys
import traceback

_failed = False


def check(name):
    def wrap(fn):
        global _failed
        try:
            detail = fn()
            print(json.dumps({"check": name, "ok": True, "detail": detail}), flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
            _failed = True
            print(json.dumps({"check": name, "ok": False, "detail": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}), flush=True)
        return fn

    return wrap


def finish():
    sys.exit(1 if _failed else 0)
