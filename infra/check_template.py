"""Checks that template.yaml agrees with the rest of the repository:

* each table has exactly the keys, indexes, TTL and billing of its infra/*-table.json, and
  there is no other table;
* every function in the template is a binary of a crate in functions/, and the other way round;
* the HTTP API routes (method, path, function) are exactly those the local gateway serves.

Usage: check_template.py template.yaml path/to/local-gateway  (run with the tools virtualenv's
python, for cfn-lint's YAML loader). Prints `N passed, N failed`; exits non-zero on any failure.
"""

import json
import subprocess
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parent.parent


TABLES = {
    "ConnectionsTable": "connections-table.json",
    "SubscriptionsTable": "subscriptions-table.json",
    "UserSlotsTable": "user-slots-table.json",
    "HistoryTable": "history-table.json",
    "PresenceTable": "presence-table.json",
    "BroadcastsTable": "broadcasts-table.json",
}


def tables_match_definitions(template: dict) -> list[str]:
    tables = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }
    if set(tables) != set(TABLES):
        return [f"tables {sorted(tables)} are not {sorted(TABLES)}"]
    problems = []
    for name, file in TABLES.items():
        definition = json.loads((ROOT / "infra" / file).read_text())
        problems += [f"{name}: {p}" for p in table_problems(tables[name]["Properties"], definition)]
    return problems


def table_problems(props: dict, definition: dict) -> list[str]:
    problems = []
    key = definition["partitionKey"]
    wanted_schema = [{"AttributeName": key["name"], "KeyType": "HASH"}]
    wanted_attributes = {key["name"]: key["type"]}
    if sort_key := definition.get("sortKey"):
        wanted_schema.append({"AttributeName": sort_key["name"], "KeyType": "RANGE"})
        wanted_attributes[sort_key["name"]] = sort_key["type"]
    if props["KeySchema"] != wanted_schema:
        problems.append(f"key schema {props['KeySchema']} is not {wanted_schema}")
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


def http_routes_match_the_gateway(template: dict) -> list[str]:
    in_template = {
        (event["Properties"]["Method"], event["Properties"]["Path"], r["Metadata"]["BuildProperties"]["Binary"])
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
        for event in r["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }
    listed = subprocess.run(
        [GATEWAY, "--list-routes"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    in_gateway = {
        (route["method"], route["path"], route["function"])
        for route in map(json.loads, listed.splitlines())
    }
    problems = []
    if missing := in_gateway - in_template:
        problems.append(f"gateway routes missing from the template: {sorted(missing)}")
    if unknown := in_template - in_gateway:
        problems.append(f"template routes the gateway does not serve: {sorted(unknown)}")
    return problems


GATEWAY = ""


def main() -> int:
    global GATEWAY
    template = cfn_yaml.load(sys.argv[1])
    GATEWAY = sys.argv[2]
    passed = failed = 0
    for check in (tables_match_definitions, functions_match_workspace, http_routes_match_the_gateway):
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
