"""The packages a user installs, built and installed as a user would, in clean places:

* the Python client: `python -m build` makes the sdist and, from it, the wheel; the wheel goes
  into a fresh virtualenv (then again with the `fastapi` extra), where consumer.py and
  consumer_fastapi.py run and mypy --strict reads the installed types;
* the JS client: `npm pack`, the tarball installed into a fresh npm project, consumer.ts
  type-checked against it with the repository's typescript, entry_points.mjs run by Node.

Each artifact carries the one version (Cargo.toml's [workspace.package]) in its name and
metadata, and the repository's two license texts byte for byte.

Usage (the Makefile's packages-check, with .venv's Python):
    check_packages.py REPO_ROOT
"""

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
import zipfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # tomli, pinned for Python 3.10 in clients/python/requirements-build.txt
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
LICENSES = ("LICENSE-MIT", "LICENSE-APACHE")


def run(what: str, *args: str | Path, cwd: Path | None = None) -> str:
    started = time.monotonic()
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, check=False, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(
            f"check_packages: {' '.join(map(str, args))} exited {done.returncode}\n"
            f"{done.stdout}{done.stderr}"
        )
    print(f"  {what}: ok ({time.monotonic() - started:.1f} s)")
    return done.stdout


def same_licenses(root: Path, where: str, read: dict[str, bytes]) -> None:
    for name in LICENSES:
        if read.get(name) != (root / name).read_bytes():
            sys.exit(f"check_packages: {where} has no {name} equal to the repository's")


def python_package(root: Path, version: str, work: Path) -> None:
    print("The Python client (wheel and sdist):")
    work.mkdir()
    dist = work / "dist"
    # Without isolation: the build backend is the pinned hatchling in .venv
    # (clients/python/requirements-build.txt); build refuses one that does not satisfy
    # pyproject.toml's build-system.requires. The wheel is built from the sdist.
    run(
        "python -m build (sdist, then the wheel from it)",
        sys.executable,
        "-m",
        "build",
        "--no-isolation",
        "--outdir",
        dist,
        root / "clients/python",
    )
    wheel = dist / f"ws_bridge-{version}-py3-none-any.whl"
    sdist = dist / f"ws_bridge-{version}.tar.gz"
    built = sorted(p.name for p in dist.iterdir())
    if built != sorted([wheel.name, sdist.name]):
        sys.exit(f"check_packages: built {built}, expected {wheel.name} and {sdist.name}")

    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        info = f"ws_bridge-{version}.dist-info"
        metadata = whl.read(f"{info}/METADATA").decode()
        same_licenses(
            root,
            wheel.name,
            {
                n: whl.read(f"{info}/licenses/{n}")
                for n in LICENSES
                if f"{info}/licenses/{n}" in names
            },
        )
    for line in (
        f"Version: {version}",
        "License-Expression: MIT OR Apache-2.0",
        "Provides-Extra: fastapi",
    ):
        if line not in metadata.splitlines():
            sys.exit(f"check_packages: {wheel.name}'s METADATA lacks {line!r}")
    for needed in ("ws_bridge/__init__.py", "ws_bridge/py.typed", "ws_bridge/webhooks_fastapi.py"):
        if needed not in names:
            sys.exit(f"check_packages: {wheel.name} lacks {needed}")
    if any(not n.startswith(("ws_bridge/", info)) for n in names):
        sys.exit(f"check_packages: {wheel.name} holds more than the package: {names}")

    with tarfile.open(sdist) as tar:
        top = f"ws_bridge-{version}"
        members = {m.name.removeprefix(f"{top}/"): m for m in tar.getmembers()}
        for needed in (
            "pyproject.toml",
            "README.md",
            "PKG-INFO",
            "src/ws_bridge/py.typed",
            "tests/conftest.py",
        ):
            if needed not in members:
                sys.exit(f"check_packages: {sdist.name} lacks {needed}")
        same_licenses(
            root,
            sdist.name,
            {
                n: f.read()
                for n in LICENSES
                if n in members and (f := tar.extractfile(members[n])) is not None
            },
        )

    # A fresh virtualenv with only the wheel and its dependencies, at the versions the
    # repository's tests run with (.venv's, from its pinned requirements files).
    env = work / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin/python"
    frozen = run(
        ".venv's versions as constraints",
        sys.executable,
        "-m",
        "pip",
        "freeze",
        "--exclude",
        "ws-bridge",
    )
    constraints = work / "constraints.txt"
    constraints.write_text(frozen)
    pip = (
        python,
        "-m",
        "pip",
        "--disable-pip-version-check",
        "install",
        "--quiet",
        "-c",
        constraints,
    )
    run("pip install the wheel into a fresh virtualenv", *pip, wheel)
    for script in ("consumer.py", "consumer_fastapi.py"):
        shutil.copy(HERE / script, work / script)
    # From the work folder, so nothing of the checkout is on sys.path.
    run("consumer.py in it", python, "consumer.py", version, cwd=work)
    mypy = (
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        "--python-executable",
        python,
    )
    run("mypy --strict consumer.py against it", *mypy, "consumer.py", cwd=work)
    run("pip install the wheel with [fastapi]", *pip, f"{wheel}[fastapi]")
    run("consumer_fastapi.py in it", python, "consumer_fastapi.py", cwd=work)
    run("mypy --strict consumer_fastapi.py against it", *mypy, "consumer_fastapi.py", cwd=work)


def js_package(root: Path, version: str, work: Path) -> None:
    print("The JS client (npm pack):")
    work.mkdir()
    client = root / "clients/js"
    packed = json.loads(
        run("npm pack", "npm", "pack", "--json", "--pack-destination", work, cwd=client)
    )[0]
    tarball = work / packed["filename"]
    if packed["filename"] != f"ws-bridge-client-{version}.tgz":
        sys.exit(f"check_packages: npm pack made {packed['filename']}, not version {version}")
    files = {f["path"] for f in packed["files"]}
    for needed in (
        "package.json",
        "README.md",
        "src/ws-bridge.js",
        "types/ws-bridge.d.ts",
        "src/react.js",
        "types/react.d.ts",
        *LICENSES,
    ):
        if needed not in files:
            sys.exit(f"check_packages: {tarball.name} lacks {needed}")
    if any(f.startswith("test/") or f.startswith("node_modules/") for f in files):
        sys.exit(f"check_packages: {tarball.name} holds the tests or node_modules: {sorted(files)}")
    with tarfile.open(tarball) as tar:
        same_licenses(
            root,
            tarball.name,
            {n: f.read() for n in LICENSES if (f := tar.extractfile(f"package/{n}")) is not None},
        )

    project = work / "js-project"
    project.mkdir()
    (project / "package.json").write_text(
        json.dumps({"name": "consumer", "private": True, "type": "module"})
    )
    # react for the ./react entry point (an optional peer dependency), and its types (the
    # provider's declarations name React's), at the client's locked versions.
    lock = json.loads((client / "package-lock.json").read_text())
    react = lock["packages"]["node_modules/react"]["version"]
    react_types = lock["packages"]["node_modules/@types/react"]["version"]
    run(
        "npm install the tarball into a fresh project",
        "npm",
        "install",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        tarball,
        f"react@{react}",
        f"@types/react@{react_types}",
        cwd=project,
    )
    for name in ("consumer.ts", "tsconfig.json", "entry_points.mjs"):
        shutil.copy(HERE / name, project / name)
    run(
        "tsc: consumer.ts against the installed types",
        client / "node_modules/.bin/tsc",
        "-p",
        project / "tsconfig.json",
        cwd=project,
    )
    run("node entry_points.mjs", "node", "entry_points.mjs", version, cwd=project)


def main() -> None:
    root = Path(sys.argv[1]).resolve()
    version = tomllib.loads((root / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    with tempfile.TemporaryDirectory(prefix="ws-bridge-packages-") as tmp:
        python_package(root, version, Path(tmp) / "python")
        js_package(root, version, Path(tmp) / "js")
    print(f"check_packages: the Python and JS packages of {version} install and import cleanly")


if __name__ == "__main__":
    main()
