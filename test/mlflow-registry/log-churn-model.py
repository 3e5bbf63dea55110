"""Registers two versions of a pyfunc model "churn" with signatures on an MLflow tracking server
(test/integration/predict-schema-mlflow.spec.ts; churn-v1.MLmodel beside it is
version 1's MLmodel as such a server serves it, for test/unit/predict-schema.spec.ts): version 1 takes columns age (double), plan
(string) and visits (long, optional) and a `threshold` param (double); version 2 renamed age to
years. The alias "champion" points to version 2. Usage: python log-churn-model.py TRACKING_URI"""
import sys
import time

import mlflow
from mlflow import MlflowClient
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema


class Churn(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [0] * len(model_input)


def signature(first_column):
    inputs = Schema([ColSpec("double", first_column), ColSpec("string", "plan"), ColSpec("long", "visits", required=False)])
    return ModelSignature(inputs=inputs, params=ParamSchema([ParamSpec("threshold", "double", 0.5)]))


mlflow.set_tracking_uri(sys.argv[1])
# A server just started may refuse writes for a moment (its SQLite store still being set up,
# "database is locked"): one write that is retried before the real ones.
for attempt in range(40):
    try:
        MlflowClient().create_experiment(f"warm-up-{time.time_ns()}")
        break
    except Exception:
        if attempt == 39:
            raise
        time.sleep(0.5)
for column in ("age", "years"):
    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="model", python_model=Churn(), signature=signature(column), registered_model_name="churn")
MlflowClient().set_registered_model_alias("churn", "champion", "2")
print("registered churn versions 1 and 2")
