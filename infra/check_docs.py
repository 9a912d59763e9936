"""Docs that cannot drift: checks the README and the book (docs/src) as `make test` runs it.

Usage: check_docs.py --gateway PATH/TO/local-gateway --mdbook PATH/TO/mdbook

* The book builds with no warning (`mdbook build docs`).
* Every relative link and image resolves, anchors included (`page.md#heading`, `#heading`), in
  the book and in the READMEs and guides beside it.
* Every code block a reader would run (shell, Python, JS, HTML, Rust) says what happens to it,
  in its info string after the language: `run=NAME` (executed by a test under tests/docs, which
  must name it), `tested-by=PATH` (a test at PATH does what it shows), or `no-run=REASON`.
* The flags table of docs/src/local-gateway.md lists exactly the flags of `local-gateway --help`,
  each with its environment variable.

Prints each problem and `docs check: N passed, N failed`; exits non-zero on any problem.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "docs"
RUNNABLE = {
    "sh", "bash", "shell", "console", "python", "py", "js", "javascript", "mjs", "ts",
    "typescript", "tsx", "jsx", "html", "rust",
}  # fmt: skip
FENCE = re.compile(r"^(```+|~~~+)(.*)$")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((BOOK / "src").rglob("*.md"))]


def slug(heading: str) -> str:
    """The anchor GitHub and mdBook give a heading: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"`|\*|_(?=\w)|(?<=\w)_", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def prose_and_blocks(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str, str]]]:
    """Lines outside code fences (with numbers), and the fenced blocks (line, info, body)."""
    prose, blocks = [], []
    fence, info, body, start = None, "", [], 0
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line.strip())
        if fence is None and match:
            fence, info, body, start = match.group(1), match.group(2).strip(), [], number
        elif (
            fence is not None and line.strip().startswith(fence) and not line.strip()[len(fence) :]
        ):
            blocks.append((start, info, "\n".join(body)))
            fence = None
        elif fence is not None:
            body.append(line)
        else:
            prose.append((number, line))
    return prose, blocks


def anchors(page: Path) -> set[str]:
    prose, _ = prose_and_blocks(page.read_text())
    found: set[str] = set()
    for _, line in prose:
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            candidate, n = base, 1
            while candidate in found:  # repeated headings get -1, -2, … as on GitHub and mdBook
                candidate, n = f"{base}-{n}", n + 1
            found.add(candidate)
    return found


def linked_pages() -> list[Path]:
    """Every page a reader follows links from: the book, and the READMEs and guides beside it."""
    others = [ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"]
    others += sorted(ROOT.glob("clients/*/README.md")) + sorted(ROOT.glob("examples/*/README.md"))
    return pages() + [page for page in others if page.exists()]


def check_links(problems: list[str]) -> int:
    checked = 0
    for page in linked_pages():
        prose, _ = prose_and_blocks(page.read_text())
        for number, line in prose:
            line = re.sub(r"`[^`]*`", "", line)  # links inside inline code are text
            for target in LINK.findall(line):
                if re.match(r"^[a-z]+:", target) or target.startswith("{{"):
                    continue
                checked += 1
                path, _, fragment = target.partition("#")
                resolved = (page.parent / path).resolve() if path else page
                where = f"{page.relative_to(ROOT)}:{number}"
                if not resolved.exists():
                    problems.append(f"{where}: the link {target} leads nowhere")
                elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
                    problems.append(f"{where}: {target}: no heading with the anchor #{fragment}")
    return checked


def check_blocks(problems: list[str]) -> int:
    checked = 0
    runners = "\n".join(p.read_text() for p in sorted((ROOT / "tests" / "docs").glob("*.mjs")))
    for page in pages():
        _, blocks = prose_and_blocks(page.read_text())
        for number, info, _ in blocks:
            words = [w for w in re.split(r"[,\s]+", info) if w]
            language = words[0].lower() if words else ""
            if language not in RUNNABLE:
                continue
            checked += 1
            where = f"{page.relative_to(ROOT)}:{number}"
            marks = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            if "no-run=" in info:  # the reason is the rest of the info string, spaces and all
                marks["no-run"] = info.split("no-run=", 1)[1].strip()
            if "run" in marks:
                if f"'{marks['run']}'" not in runners:
                    problems.append(
                        f"{where}: run={marks['run']}, but no test in tests/docs runs it"
                    )
            elif "tested-by" in marks:
                if not (ROOT / marks["tested-by"]).exists():
                    problems.append(f"{where}: tested-by={marks['tested-by']}: no such file")
            elif not marks.get("no-run"):
                problems.append(
                    f"{where}: a ```{language} block without run=NAME, tested-by=PATH or "
                    "no-run=REASON after its language"
                )
    return checked


def check_flags(gateway: str, problems: list[str]) -> int:
    help_text = subprocess.run(
        [gateway, "--help"], capture_output=True, text=True, check=True
    ).stdout
    flags: dict[str, str | None] = {}
    helps: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        match = re.match(r"^\s+(?:-\w, )?(--[a-z0-9-]+)", line)
        if match:
            current = match.group(1)
            flags[current] = None
            helps[current] = ""
        elif current:
            helps[current] += " " + line.strip()
        env = re.search(r"\[env: ([A-Z0-9_]+)=", line)
        if env and current:
            flags[current] = env.group(1)
    flags.pop("--help", None)
    flags.pop("--version", None)
    table: dict[str, str] = {}
    page = BOOK / "src" / "local-gateway.md"
    for line in page.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`--"):
            continue
        for flag in re.findall(r"`(--[a-z0-9-]+)", cells[0]):
            table[flag] = cells[1]
    for flag, env in flags.items():
        if flag not in table:
            problems.append(f"{page.relative_to(ROOT)}: the flags table misses {flag}")
        elif env and not re.fullmatch(
            r".*`" + re.escape(env) + r"`.*|.*`" + re.escape(env.split("_")[0]) + r"_\*`.*",
            table[flag],
        ):
            problems.append(
                f"{page.relative_to(ROOT)}: {flag} reads {env}, the table says {table[flag]}"
            )
    for flag in table:
        if flag not in flags:
            problems.append(
                f"{page.relative_to(ROOT)}: the table lists {flag}, which --help does not know"
            )
    # The Lambdas' settings table: a variable the gateway also reads has the default --help gives.
    by_env = {env: helps[flag] for flag, env in flags.items() if env}
    lambdas = BOOK / "src" / "lambda-functions.md"
    for line in lambdas.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`([A-Z0-9_]+)`", cells[0]) if len(cells) > 2 else None
        default = re.fullmatch(r"`([^`]+)`", cells[1]) if name else None
        if name and default and name.group(1) in by_env:
            said = by_env[name.group(1)]
            if not re.search(rf"default[^;)]*?{re.escape(default.group(1))}\b", said):
                problems.append(
                    f"{lambdas.relative_to(ROOT)}: {name.group(1)} defaults to {default.group(1)} "
                    "there, but the gateway's --help says otherwise"
                )
    return len(flags)


def check_book(mdbook: str, problems: list[str]) -> int:
    built = subprocess.run(
        [mdbook, "build", str(BOOK)], check=False, capture_output=True, text=True
    )
    output = built.stdout + built.stderr
    for line in output.splitlines():
        if "WARN" in line or "ERROR" in line:
            problems.append(f"mdbook: {line.strip()}")
    if built.returncode != 0:
        problems.append(f"mdbook build exited {built.returncode}")
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--mdbook", required=True)
    args = parser.parse_args()
    problems: list[str] = []
    counted = 0
    counted += check_book(args.mdbook, problems)
    counted += check_links(problems)
    counted += check_blocks(problems)
    counted += check_flags(args.gateway, problems)
    for problem in problems:
        print(problem)
    print(f"docs check: {counted - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
