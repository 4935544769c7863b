"""Validates KEDA resources against the typed models of KEDA's CRDs.

kubernetes-validate knows only the built-in kinds. For keda.sh/v1alpha1 the
check uses the package cloudcoil.models.keda (PyPI), pydantic models generated
from the CRDs of one KEDA release: field names, types and required fields are
the CRD schema's. Unknown fields are made errors (pydantic ignores them by
default, the API server with strict field validation does not), and values
are not coerced (a string is not an integer).
"""

from __future__ import annotations

from importlib.metadata import version

import pydantic
from cloudcoil import apimachinery
from cloudcoil.models.keda import v1alpha1

KEDA_MODELS_VERSION = version("cloudcoil.models.keda")
KINDS = {"ScaledObject": v1alpha1.ScaledObject, "TriggerAuthentication": v1alpha1.TriggerAuthentication}


def _forbid_unknown_fields() -> None:
    models = [
        obj
        for module in (v1alpha1, apimachinery)
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, pydantic.BaseModel) and obj.__module__ == module.__name__
    ]
    for model in models:
        model.model_config["extra"] = "forbid"
    # Nested models are inlined into their parents' validators: rebuild all
    # after the config change, twice so parents pick up rebuilt children.
    for _ in range(2):
        for model in models:
            model.model_rebuild(force=True)


_forbid_unknown_fields()


def validate(doc: dict) -> list[str]:
    """Problems of one KEDA resource, as `path: message` lines; empty when valid."""
    model = KINDS.get(doc.get("kind"))
    if model is None or doc.get("apiVersion") != "keda.sh/v1alpha1":
        return [f"no KEDA model for {doc.get('apiVersion')} {doc.get('kind')}"]
    try:
        model.model_validate(doc, strict=True, by_alias=True, by_name=False)
    except pydantic.ValidationError as e:
        return [f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()]
    return []
