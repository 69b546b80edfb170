"""Turn a pytest-benchmark JSON file into benchmarks/RESULTS.md.

    pytest benchmarks --benchmark-enable --benchmark-only --benchmark-json=bench.json
    python benchmarks/report.py bench.json            # writes benchmarks/RESULTS.md
    python benchmarks/report.py bench.json -o -       # prints it instead

Figures are medians per item (a benchmark's ``items_per_call`` divides its
time); the ratio is baseline / bitget_fast within one group of one run.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import sys

HERE = pathlib.Path(__file__).resolve().parent

# group -> targets that group must meet (DECISIONS.md section 1). "max_ns": our
# median per item; "min_ratio": baseline / ours, against the named baseline; "max_over":
# ours / baseline, for a floor we may come close to but not beat.
TARGETS = {
    "sign mix (GET + POST)": {"max_ns": 250.0, "min_ratio": 5.5, "baseline": "hmac+base64"},
    "request signer from parts (GET + POST)": {"min_ratio": 10.0, "baseline": "plain Python"},
    # the order book issue: compiled book vs the plain-Python baseline and orjson (bench_book.py)
    "book: parse+apply+checksum per message": {
        "max_ns": 800.0, "label": "≤ 0.8 µs median per message",
        "min_ratio": 20.0, "baseline": "orjson+sortedcontainers",
        "also": [{"min_ratio": 1.0, "baseline": "orjson.loads (no book)", "strict": True,
                  "label": "faster than orjson.loads alone"}]},
    # issue 3: the simulator's live feed must not bottleneck later client benchmarks
    "sim books feed (msgs to one client)": {"max_ns": 10_000.0,
                                             "label": "≥ 100,000 msgs/s (≤ 10,000 ns per message)"},
    # the market-data issue (bench_wire.py): these groups' timer is the client's CPU from the
    # first book message to the last, so "median per item" is client CPU per message
    "wire: frame to updated book over loopback (per message)": {
        "max_ns": 1500.0, "label": "≤ 1.5 µs client CPU per message"},
    "wire: 200 symbols interleaved on a few connections": {
        "max_ns": 2500.0, "label": "≥ 400,000 msgs/s of client CPU, one core (≤ 2,500 ns per message)"},
    # the trading issue (bench_order.py): the timer is the client's CPU over n place+cancel
    # pairs, so "median per item" is client CPU per request round trip
    # Read on the RestClient row (the floor's own work: one request, one reply; the connector
    # row also reads ~4 private pushes per order). When the row has paired rounds (a floor
    # round just before each of its rounds) the median of those neighbours' ratios decides:
    # on a shared VM single rounds swing 35-70 us, and the medians of two separate series
    # drift apart (1.00x to 1.65x in the same week); the pairs moved 1.26x-1.36x. Without
    # pairs, the ratio of the medians.
    "order: round trip over loopback (client CPU per request)": {
        "max_over": 1.2, "baseline": "pre-built floor", "impl": "bitget_fast RestClient",
        "label": "≤ 1.2x the pre-built-request floor (same run)"},
    # the trading issue (bench_tick_to_order.py): wall time per tick, books message to the
    # signed place-order request written
    "tick-to-order: books message to signed request written (per tick)": {
        "max_ns": 15_000.0, "label": "≤ 15 µs median per tick"},
}

COMMAND = ("pytest benchmarks --benchmark-enable --benchmark-only --benchmark-json=bench.json"
           " && python benchmarks/report.py bench.json")


def _rows(data: dict) -> dict[str, dict[str, dict]]:
    groups: dict[str, dict[str, dict]] = {}
    for b in data["benchmarks"]:
        info = b.get("extra_info", {})
        items = info.get("items_per_call", 1)
        groups.setdefault(b["group"] or b["name"], {})[info.get("implementation", b["name"])] = {
            "median_ns": b["stats"]["median"] * 1e9 / items,
            "min_ns": b["stats"]["min"] * 1e9 / items,
            "rounds": b["stats"]["rounds"],
            "backend": info.get("backend", ""),
            "correct": info.get("correct", False),
            "x_floor_paired": info.get("x_floor_paired"),
        }
    return groups


def _machine(data: dict) -> str:
    m = data.get("machine_info", {})
    cpu = m.get("cpu", {})
    brand = cpu.get("brand_raw") or m.get("processor") or platform.processor() or "unknown CPU"
    flags = set(cpu.get("flags", []))
    feats = ", ".join(f for f in ("sha_ni", "pclmulqdq", "avx2", "ssse3") if f in flags)
    return (f"{brand}, {cpu.get('count', '?')} cores"
            f"{f' ({feats})' if feats else ''}; {m.get('python_implementation', 'CPython')} "
            f"{m.get('python_version', '?')}; {m.get('system', '')} {m.get('release', '')}".strip())


def render(data: dict) -> str:
    groups = _rows(data)
    commit = data.get("commit_info", {})
    lines = [
        "# Benchmark results",
        "",
        "Latest figures, written by `benchmarks/report.py` from one pytest-benchmark run.",
        "Medians per item; **ratio** = baseline time / bitget_fast time in the same run.",
        "",
        f"- Machine: {_machine(data)}",
        f"- Date: {data.get('datetime', '?')}",
        f"- Commit: {commit.get('id', '?')[:12]}{' (dirty tree)' if commit.get('dirty') else ''}",
        f"- Command: `{COMMAND}`",
        "",
        "| group | implementation | median ns/item | min ns/item | ratio | correct |",
        "|---|---|---:|---:|---:|:---:|",
    ]
    for group, impls in groups.items():
        ours = impls.get("bitget_fast")
        for impl, r in sorted(impls.items(), key=lambda kv: kv[0] != "bitget_fast"):
            ratio = (f"{r['median_ns'] / ours['median_ns']:.2f}x"
                     if ours and impl != "bitget_fast" else "1.00x" if ours else "")
            name = f"{impl} ({r['backend']})" if r["backend"] else impl
            lines.append(f"| {group} | {name} | {r['median_ns']:.1f} | {r['min_ns']:.1f} | "
                         f"{ratio} | {'yes' if r['correct'] else 'NO'} |")
    lines += ["", "## Targets", "", "| group | target | measured | met |", "|---|---|---|:---:|"]
    for group, t in TARGETS.items():
        impls = groups.get(group)
        who = t.get("impl", "bitget_fast")
        if not impls or who not in impls:
            lines.append(f"| {group} | — | not run | — |")
            continue
        ours = impls[who]["median_ns"]
        paired = impls[who].get("x_floor_paired")
        if "max_ns" in t:
            label = t.get("label", f"≤ {t['max_ns']:.0f} ns per call")
            lines.append(f"| {group} | {label} | {ours:.1f} ns ({1e9 / ours:,.0f}/s) | "
                         f"{'yes' if ours <= t['max_ns'] else 'NO'} |")
        for rt in (t, *t.get("also", ())):
            base = impls.get(rt.get("baseline", ""))
            if base and "max_over" in rt:
                medians = ours / base["median_ns"]
                label = (rt["label"] if "label" in rt and (rt is not t or "max_ns" not in t)
                         else f"≤ {rt['max_over']:g}x {rt['baseline']}")
                if who != "bitget_fast":
                    label += f", {who}"
                if paired is not None:
                    over = paired
                    shown = (f"{paired:.2f}x {rt['baseline']} (paired rounds; "
                             f"ratio of medians {medians:.2f}x)")
                else:
                    over = medians
                    shown = f"{over:.2f}x {rt['baseline']}"
                lines.append(f"| {group} | {label} | {shown} | "
                             f"{'yes' if over <= rt['max_over'] else 'NO'} |")
            if base and "min_ratio" in rt:
                ratio = base["median_ns"] / ours
                met = ratio > rt["min_ratio"] if rt.get("strict") else ratio >= rt["min_ratio"]
                label = (rt["label"] if rt is not t and "label" in rt
                         else f"≥ {rt['min_ratio']:g}x {rt['baseline']}")
                lines.append(f"| {group} | {label} | {ratio:.2f}x | {'yes' if met else 'NO'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", type=pathlib.Path, help="pytest-benchmark --benchmark-json output")
    ap.add_argument("-o", "--output", default=str(HERE / "RESULTS.md"),
                    help="where to write the Markdown ('-' for stdout)")
    ap.add_argument("--notes", type=pathlib.Path, default=HERE / "NOTES.md",
                    help="Markdown appended as a Notes section (default: benchmarks/NOTES.md)")
    args = ap.parse_args(argv)
    text = render(json.loads(args.json.read_text()))
    if args.notes and args.notes.is_file():
        text += "\n## Notes\n\n" + args.notes.read_text()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        pathlib.Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
