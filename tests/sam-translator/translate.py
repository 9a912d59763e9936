"""The route-table half of a SAM template as AWS's own translator expands it, for the
gateway's cross-check (tests/tests/sam_translator.rs).

Usage: translate.py TEMPLATE OUT.json

aws-sam-translator (pinned with SAM CLI in infra/requirements-tools.txt) expands the template
offline; OUT gets the expansion's AWS::ApiGatewayV2 resources next to the original's functions,
parameters and globals, so that `local-gateway --template OUT.json` reads the translator's routes,
integrations, authorizer and stage with the same functions as the original.
"""

import json
import os
import sys
from typing import Any

from samtranslator.public.translator import ManagedPolicyLoader  # noqa: F401  (the real type)
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """Offline: the templates checked name no managed policies."""

    def load(self) -> dict[str, str]:
        return {}


def main(source: str, destination: str) -> None:
    # The translator only needs some region for pseudo-parameters; nothing is contacted.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(source) as file:
        original: dict[str, Any] = yaml_parse(file.read())
    # As `sam package` would: code in S3 (the translator refuses local paths). Only the copy
    # given to the translator changes.
    packaged = json.loads(json.dumps(original))
    for section in [packaged.get("Globals", {}).get("Function", {})] + [
        resource.get("Properties", {}) for resource in packaged["Resources"].values()
    ]:
        if "CodeUri" in section:
            section["CodeUri"] = "s3://bucket/code.zip"
    expanded = transform(packaged, {}, NoManagedPolicies())
    resources = {
        name: resource
        for name, resource in original["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    for name, resource in expanded["Resources"].items():
        if resource["Type"].startswith("AWS::ApiGatewayV2::"):
            resources[name] = resource
    out = {
        key: original[key]
        for key in ("Transform", "Parameters", "Conditions", "Globals")
        if key in original
    }
    out["Resources"] = resources
    with open(destination, "w") as file:
        json.dump(out, file, indent=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
