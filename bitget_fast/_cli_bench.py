"""``bitget-fast bench``: run the benchmark suite, print the ratio table, write the report."""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import re
import subprocess
import sys
from typing import Any

from bitget_fast._term import Progress

OK, FAILED, USAGE, UNHEALTHY = 0, 1, 2, 3

_RESULT = re.compile(r"^(\S+::\S+)\s+(PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)")
_COLLECTED = re.compile(r"collected (\d+) items?(?: / (\d+) deselected)?")


def add_options(p: argparse.ArgumentParser) -> None:
    """The ``bench`` options."""
    p.add_argument("--suite", type=pathlib.Path, default=None, metavar="DIR",
                   help="the benchmarks/ directory of a bitget_fast checkout (default: "
                   "./benchmarks)")
    p.add_argument("-k", dest="select", metavar="EXPR",
                   help="only the benchmarks matching this pytest -k expression, e.g. sign")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench-results"),
                   metavar="DIR", help="where RESULTS.md, bench.json and bench.png go "
                   "(default ./bench-results)")
    p.add_argument("--json", action="store_true",
                   help="no table; print the results as one JSON object")


def _find_suite(given: pathlib.Path | None) -> pathlib.Path | None:
    for cand in ([given] if given is not None else
                 [pathlib.Path("benchmarks"), pathlib.Path("..") / "benchmarks"]):
        if (cand / "report.py").is_file() and (cand / "conftest.py").is_file():
            return cand.resolve()
    return None


def _load_report(suite: pathlib.Path) -> Any:
    spec = importlib.util.spec_from_file_location("_bitget_fast_bench_report", suite / "report.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _table(groups: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    rows = [("group", "implementation", "median/item", "ratio")]
    for group, impls in groups.items():
        ours = impls.get("bitget_fast")
        for impl, r in sorted(impls.items(), key=lambda kv: kv[0] != "bitget_fast"):
            ns = r["median_ns"]
            shown = f"{ns / 1000:,.2f} µs" if ns >= 10_000 else f"{ns:,.1f} ns"
            ratio = (f"{r['median_ns'] / ours['median_ns']:.2f}x" if ours else "")
            rows.append((group[:66], impl[:34], shown, ratio))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    out = []
    for n, r in enumerate(rows):
        out.append(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  "
                   f"{r[3]:>{widths[3]}}")
        if n == 0:
            out.append("-" * len(out[0]))
    return out


def _chart(groups: dict[str, dict[str, dict[str, Any]]], path: pathlib.Path) -> str | None:
    """A PNG of baseline / bitget_fast per group; None (and why) without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    labels, ratios = [], []
    for group, impls in groups.items():
        ours = impls.get("bitget_fast")
        if not ours:
            continue
        for impl, r in impls.items():
            if impl != "bitget_fast":
                labels.append(f"{group[:64]}\nvs {impl[:34]}")
                ratios.append(r["median_ns"] / ours["median_ns"])
    if not ratios:
        return None
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(ratios) + 1.5))
    ax.barh(range(len(ratios)), ratios, color=["#2a7" if x >= 1 else "#c44" for x in ratios])
    ax.set_yticks(range(len(ratios)), labels, fontsize=7)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("baseline time / bitget_fast time (same run; > 1: bitget_fast faster)")
    for i, x in enumerate(ratios):
        ax.text(x, i, f" {x:.2f}x", va="center", fontsize=7)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def run_bench(args: argparse.Namespace) -> int:
    """Run the suite in a child pytest, then report."""
    suite = _find_suite(args.suite)
    if suite is None:
        where = args.suite if args.suite is not None else "./benchmarks"
        print(f"bitget-fast bench: no benchmark suite at {where}. The suite lives in the "
              "source repository: clone it, `pip install \".[bench]\"`, and run `bitget-fast "
              "bench` from its root (or pass --suite DIR).", file=sys.stderr)
        return USAGE
    try:
        import pytest_benchmark  # noqa: F401
    except ImportError:
        print("bitget-fast bench: pytest-benchmark is not installed: "
              "pip install \"bitget-fast[bench]\"", file=sys.stderr)
        return FAILED
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    data_path = out / "bench.json"
    data_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-P", "-m", "pytest", str(suite), "--benchmark-enable",
           "--benchmark-only", f"--benchmark-json={data_path}", "-v", "--no-header",
           "-p", "no:cacheprovider"]
    if args.select:
        cmd += ["-k", args.select]
    progress = Progress(sys.stderr, None if not args.json else False, min_interval_s=0.0)
    total, done, failed = 0, 0, []
    log: list[str] = []
    progress.update(f"bench: collecting {suite}", force=True)
    with subprocess.Popen(cmd, cwd=suite.parent, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            m = _COLLECTED.search(line)
            if m:
                total = int(m.group(1)) - int(m.group(2) or 0)
            m = _RESULT.match(line)
            if m:
                done += 1
                if m.group(2) in ("FAILED", "ERROR"):
                    failed.append(m.group(1))
                progress.update(f"bench [{done}/{total or '?'}] {m.group(1).split('/')[-1]}"
                                f"{'  FAILED' if m.group(2) in ('FAILED', 'ERROR') else ''}",
                                force=True)
        rc = proc.wait()
    progress.done()
    if done == 0 and not failed and total == 0:
        print(f"bitget-fast bench: no benchmark matched{f' -k {args.select!r}' if args.select else ''}",
              file=sys.stderr)
        return USAGE
    if rc not in (0, 5) or failed:
        sys.stderr.write("".join(log[-40:]))
        print(f"bitget-fast bench: the suite failed (pytest exit {rc}; "
              f"{len(failed)} failed: {', '.join(failed[:5])})", file=sys.stderr)
        return FAILED
    if not data_path.is_file():
        print("bitget-fast bench: the suite ran but wrote no results", file=sys.stderr)
        return FAILED
    report = _load_report(suite)
    data = json.loads(data_path.read_text())
    groups = report._rows(data)
    text = report.render(data)
    notes = suite / "NOTES.md"
    if notes.is_file():
        text += "\n## Notes\n\n" + notes.read_text()
    (out / "RESULTS.md").write_text(text)
    missed = [line for line in text.split("## Targets", 1)[-1].splitlines()
              if line.startswith("| ") and line.rstrip().endswith("| NO |")]
    chart = _chart(groups, out / "bench.png")
    if args.json:
        print(json.dumps({"groups": groups, "targets_missed": missed,
                          "report": str(out / "RESULTS.md"), "data": str(data_path),
                          "chart": chart}))
    else:
        print("\n".join(_table(groups)))
        print(f"\nmachine: {report._machine(data)}")
        print(f"report:  {out / 'RESULTS.md'}   raw: {data_path}")
        print(f"chart:   {chart}" if chart else
              "chart:   none (pip install matplotlib for bench.png)")
        if missed:
            print("targets missed:\n  " + "\n  ".join(missed))
    return UNHEALTHY if missed else OK
