#!/usr/bin/env python3
"""Turns `perf script -F ip,sym` output into a flame graph (SVG), with no other tool.

    perf record -p PID --call-graph dwarf,8192 -F 499 -o gw.perf -- sleep 3
    perf script -i gw.perf -F ip,sym | infra/flamegraph.py "title" > docs/flame.svg

Frames are function names with generic arguments cut (`Foo<T>::bar` -> `Foo::bar`); inlined
frames are kept, since most of an async Rust program's time is spent in inlined poll functions.
Frames narrower than 0.3 % are left out. Widths are shares of all samples.
"""

import html
import re
import sys

WIDTH, ROW, FONT = 1200, 16, 11
MIN_SHARE = 0.003


def short(symbol: str) -> str:
    symbol = symbol.replace(" (inlined)", "")
    # `<T as Trait>` becomes `T`; other generic arguments are cut, innermost first.
    previous = None
    while previous != symbol:
        previous = symbol
        symbol = re.sub(r"<([^<>]*) as [^<>]*>", r"\1", symbol)
        symbol = re.sub(r"<[^<>]*>", lambda m: m[0] if " as " in m[0] else "", symbol)
    return symbol.replace("::{{closure}}", "::{closure}")


# Runtime plumbing between the frames that say what runs: tokio's and futures' poll machinery,
# std's call shims, and inlined frames that name no path (`poll`, `{closure#0}`, …).
PLUMBING = (
    "tokio::runtime",
    "tokio::task",
    "core::",
    "std::",
    "alloc::",
    "futures_util::",
    "futures_core::",
    "tracing::instrument",
    "::Instrumented",
    "::MapIntoResponseFuture",
    "::Oneshot",
    "::RouteFuture",
    "::Map as core",
    "::PollFn",
)


def plumbing(name: str) -> bool:
    if "::" not in name:
        # Kernel functions name no path either, and are kept.
        return name.startswith("{") or name in GENERIC
    return any(part in name for part in PLUMBING)


GENERIC = {
    "poll",
    "run",
    "set",
    "with",
    "try_with",
    "with_budget",
    "budget",
    "call_once",
    "do_call",
    "catch_unwind",
    "poll_future",
    "poll_inner",
    "with_mut",
    "enter_runtime",
    "set_scheduler",
    "run_task",
    "poll_next",
    "park",
    "park_internal",
}


def stacks(lines):
    stack = []
    for line in lines:
        line = line.strip()
        if not line:
            if stack:
                yield list(reversed(stack))
            stack = []
            continue
        parts = line.split(" ", 1)
        symbol = parts[1] if len(parts) > 1 else "?"
        if symbol == "[unknown]":
            continue
        name = short(symbol)
        if not plumbing(name) and (not stack or stack[-1] != name):
            stack.append(name)
    if stack:
        yield list(reversed(stack))


def tree(all_stacks):
    def node():
        return {"n": 0, "kids": {}}

    root = node()
    for stack in all_stacks:
        root["n"] += 1
        current = root
        for frame in stack:
            current = current["kids"].setdefault(frame, node())
            current["n"] += 1
    return root


def colour(name: str) -> str:
    if name.startswith(("aws_smithy", "aws_runtime", "aws_sdk", "aws_sigv4")):
        return "#e8a33d"  # the SDK
    if name.startswith(("ws_bridge", "local_gateway")):
        return "#4f9bd9"  # ours
    if "sys_" in name or name.startswith(("tcp_", "ip_", "__", "do_", "entry_")):
        return "#d9584f"  # the kernel
    return "#9ccc65"


def main() -> None:
    title = sys.argv[1] if len(sys.argv) > 1 else "flame graph"
    root = tree(stacks(sys.stdin))
    total = max(root["n"], 1)
    rects = []
    depth_max = 0

    def walk(node, x, depth):
        nonlocal depth_max
        for name, kid in sorted(node["kids"].items()):
            share = kid["n"] / total
            if share >= MIN_SHARE:
                depth_max = max(depth_max, depth)
                rects.append((x, depth, share, name, kid["n"]))
                walk(kid, x, depth + 1)
            x += share

    walk(root, 0.0, 0)
    height = (depth_max + 3) * ROW
    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'font-family="monospace" font-size="{FONT}">'
        ),
        '<rect width="100%" height="100%" fill="#fff"/>',
        (
            f'<text x="4" y="{ROW - 3}">{html.escape(title)} ({total} samples; '
            "orange: the AWS SDK, blue: ws-bridge, red: the kernel)</text>"
        ),
    ]
    for x, depth, share, name, samples in rects:
        px, width = x * WIDTH, share * WIDTH
        y = height - (depth + 1) * ROW
        label = html.escape(name)
        out.append(
            f"<g><title>{label} ({100 * share:.1f} %, {samples} samples)</title>"
            f'<rect x="{px:.1f}" y="{y}" width="{max(width - 0.5, 0.5):.1f}" '
            f'height="{ROW - 1}" fill="{colour(name)}"/>'
        )
        chars = int(width / (FONT * 0.6))
        if chars >= 4:
            text = name if len(name) <= chars else name[: chars - 2] + ".."
            out.append(
                f'<text x="{px + 2:.1f}" y="{y + ROW - 4}">{html.escape(text)}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
