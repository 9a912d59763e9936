"""Checks that template.yaml agrees with the rest of the repository:

* the table has exactly the keys, index, TTL and billing of infra/connections-table.json;
* every function in the template is a binary of a crate in functions/, and the other way round.

Usage: check_template.py template.yaml  (run with the tools virtualenv's python, for cfn-lint's
YAML loader). Prints `N passed, N failed`; exits non-zero on any failure.
"""

import json
import subprocess
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parent.parent


def table_matches_definition(template: dict) -> list[str]:
    definition = json.loads((ROOT / "infra" / "connections-table.json").read_text())
    tables = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    if len(tables) != 1:
        return [f"expected one DynamoDB table, found {len(tables)}"]
    props = tables[0]["Properties"]
    problems = []
    key = definition["partitionKey"]
    if props["KeySchema"] != [{"AttributeName": key["name"], "KeyType": "HASH"}]:
        problems.append(f"key schema {props['KeySchema']} is not {key['name']} (HASH)")
    wanted_attributes = {key["name"]: key["type"]}
    wanted_indexes = {}
    for index in definition["globalSecondaryIndexes"]:
        pk = index["partitionKey"]
        wanted_attributes[pk["name"]] = pk["type"]
        wanted_indexes[index["name"]] = (pk["name"], index["projection"])
    attributes = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    if attributes != wanted_attributes:
        problems.append(f"attributes {attributes} are not {wanted_attributes}")
    indexes = {
        i["IndexName"]: (i["KeySchema"][0]["AttributeName"], i["Projection"]["ProjectionType"])
        for i in props.get("GlobalSecondaryIndexes", [])
        if len(i["KeySchema"]) == 1 and i["KeySchema"][0]["KeyType"] == "HASH"
    }
    if indexes != wanted_indexes or len(props.get("GlobalSecondaryIndexes", [])) != len(wanted_indexes):
        problems.append(f"indexes {indexes} are not {wanted_indexes}")
    ttl = props.get("TimeToLiveSpecification", {})
    if ttl != {"AttributeName": definition["timeToLiveAttribute"], "Enabled": True}:
        problems.append(f"TTL {ttl} is not {definition['timeToLiveAttribute']} enabled")
    if props.get("BillingMode") != definition["billingMode"]:
        problems.append(f"billing {props.get('BillingMode')} is not {definition['billingMode']}")
    return problems


def functions_match_workspace(template: dict) -> list[str]:
    in_template = {
        r["Metadata"]["BuildProperties"]["Binary"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--no-deps", "--format-version", "1"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
    )
    functions_dir = str(ROOT / "functions") + "/"
    in_workspace = {
        target["name"]
        for package in metadata["packages"]
        if package["manifest_path"].startswith(functions_dir)
        for target in package["targets"]
        if "bin" in target["kind"]
    }
    problems = []
    if missing := in_workspace - in_template:
        problems.append(f"binaries without a function in the template: {sorted(missing)}")
    if unknown := in_template - in_workspace:
        problems.append(f"template functions without a binary in functions/: {sorted(unknown)}")
    return problems


def main() -> int:
    template = cfn_yaml.load(sys.argv[1])
    passed = failed = 0
    for check in (table_matches_definition, functions_match_workspace):
        problems = check(template)
        if problems:
            failed += 1
            print(f"FAILED  {check.__name__}: " + "; ".join(problems))
        else:
            passed += 1
            print(f"ok      {check.__name__}")
    print(f"template check: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
