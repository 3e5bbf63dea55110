"""MLflow 3.8.1's own config loader on each file given: what `mlflow gateway start` accepts.

Usage: python load_configs.py FILE...   (the environment holds the files' $VARIABLES)
Prints one JSON line per file: {"file": path, "ok": bool, "endpoints": [...] | "error": message}.
"""

import json
import sys

from mlflow.gateway.config import _validate_config

for path in sys.argv[1:]:
    try:
        config = _validate_config(path)
        print(json.dumps({"file": path, "ok": True, "endpoints": [e.name for e in config.endpoints]}), flush=True)
    except Exception as e:  # noqa: BLE001 - the refusal is the result
        print(json.dumps({"file": path, "ok": False, "error": str(e).splitlines()[0][:500]}), flush=True)
