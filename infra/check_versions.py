"""ws-bridge has one version, set in one place: `[workspace.package] version` of the workspace
Cargo.toml. Everything else that carries a version must say the same, or this exits non-zero
naming each file that differs.

Usage: check_versions.py [REPO_ROOT]

Checked: every crate of the workspace takes `version.workspace = true`; Cargo.lock's entries of
the workspace's crates; the Python client's `__version__` (hatchling reads the package's version
from it) and that pyproject.toml sets no version of its own; the JS client's package.json and
both version fields of its package-lock.json; CHANGELOG.md has a section for the version.
"""

import json
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # tomli, pinned for Python 3.10 in clients/python/requirements-build.txt
    import tomli as tomllib


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    workspace = tomllib.loads((root / "Cargo.toml").read_text())
    version = workspace["workspace"]["package"]["version"]
    found: list[tuple[str, object]] = []

    crates = []
    for member in workspace["workspace"]["members"]:
        manifest = tomllib.loads((root / member / "Cargo.toml").read_text())
        crates.append(manifest["package"]["name"])
        found.append((f"{member}/Cargo.toml package.version", manifest["package"].get("version")))
    lock = tomllib.loads((root / "Cargo.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"] if "source" not in p}
    for crate in crates:
        found.append((f"Cargo.lock {crate}", locked.get(crate)))

    python = root / "clients/python"
    pyproject = tomllib.loads((python / "pyproject.toml").read_text())
    # hatchling takes the version from _version.py only while pyproject.toml declares it dynamic.
    if "version" in pyproject["project"] or "version" not in pyproject["project"].get(
        "dynamic", []
    ):
        found.append(("clients/python/pyproject.toml (must be dynamic)", "static"))
    match = re.search(
        r'^__version__ = "([^"]+)"$',
        (python / "src/ws_bridge/_version.py").read_text(),
        re.MULTILINE,
    )
    found.append(("clients/python/src/ws_bridge/_version.py", match and match.group(1)))

    js = root / "clients/js"
    package = json.loads((js / "package.json").read_text())
    package_lock = json.loads((js / "package-lock.json").read_text())
    found.append(("clients/js/package.json", package.get("version")))
    found.append(("clients/js/package-lock.json version", package_lock.get("version")))
    found.append(
        ('clients/js/package-lock.json packages[""]', package_lock["packages"][""].get("version"))
    )

    changelog = (root / "CHANGELOG.md").read_text()
    has_entry = re.search(rf"^## \[{re.escape(version)}\]", changelog, re.MULTILINE)
    found.append(("CHANGELOG.md section", version if has_entry else "none"))

    # `version.workspace = true` reads as {"workspace": True}; a crate's own number, even the same
    # one, would drift at the next release.
    inherited = {"workspace": True}
    wrong = [
        (where, value)
        for where, value in found
        if value != (inherited if where.endswith("package.version") else version)
    ]
    for where, value in wrong:
        wanted = "version.workspace = true" if value == version else repr(version)
        print(
            f"check_versions: {where} is {value!r}, not {wanted} (Cargo.toml [workspace.package])"
        )
    if wrong:
        return 1
    print(
        f"check_versions: {len(found)} places agree on {version} (Cargo.toml [workspace.package])"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
