"""report.py renders a pytest-benchmark JSON into RESULTS.md with ratios and targets."""

from __future__ import annotations

import importlib.util
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
ORDER = "order: round trip over loopback (client CPU per request)"


def _load_report():
    spec = importlib.util.spec_from_file_location("bench_report", HERE / "report.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _bench(group, impl, median_s, items=10):
    return {"group": group, "name": f"test_{impl}",
            "extra_info": {"implementation": impl, "items_per_call": items, "correct": True},
            "stats": {"median": median_s, "min": median_s * 0.9, "rounds": 100}}


def test_render_ratios_and_targets(tmp_path):
    report = _load_report()
    data = {
        "machine_info": {"cpu": {"brand_raw": "Test CPU", "count": 2, "flags": ["sha_ni"]},
                         "python_version": "3.11.7"},
        "commit_info": {"id": "0123456789abcdef", "dirty": False},
        "datetime": "2026-11-24T00:00:00",
        "benchmarks": [
            _bench("sign mix (GET + POST)", "bitget_fast", 2.0e-6),
            _bench("sign mix (GET + POST)", "hmac+base64", 18.0e-6),
            _bench("request signer from parts (GET + POST)", "bitget_fast", 3.0e-6),
            _bench("request signer from parts (GET + POST)", "plain Python", 24.0e-6),
            _bench(ORDER, "bitget_fast", 600.0e-6),
            _bench(ORDER, "bitget_fast RestClient", 330.0e-6),
            _bench(ORDER, "pre-built floor", 300.0e-6),
            _bench(ORDER, "aiohttp", 1700.0e-6),
        ],
    }
    src = tmp_path / "b.json"
    src.write_text(json.dumps(data))
    out = tmp_path / "RESULTS.md"
    assert report.main([str(src), "-o", str(out)]) == 0
    text = out.read_text()
    assert "Test CPU, 2 cores (sha_ni)" in text
    assert "| sign mix (GET + POST) | hmac+base64 | 1800.0 | 1620.0 | 9.00x | yes |" in text
    assert "| sign mix (GET + POST) | ≤ 250 ns per call | 200.0 ns (5,000,000/s) | yes |" in text
    assert "| request signer from parts (GET + POST) | ≥ 10x plain Python | 8.00x | NO |" in text
    # a floor target: ours / floor, met at or below the bound
    # read on the RestClient row (the connector's own row is not the target's)
    assert (f"| {ORDER} | ≤ 1.2x the pre-built-request floor (same run), bitget_fast RestClient "
            "| 1.10x pre-built floor | yes |") in text
    assert f"| {ORDER} | aiohttp | 170000.0 | 153000.0 | 2.83x | yes |" in text


def test_floor_target_not_met_and_not_run():
    report = _load_report()
    data = {"benchmarks": [_bench(ORDER, "bitget_fast RestClient", 400.0e-6),
                           _bench(ORDER, "pre-built floor", 300.0e-6)]}
    text = report.render(data)
    assert (f"| {ORDER} | ≤ 1.2x the pre-built-request floor (same run), bitget_fast RestClient "
            "| 1.33x pre-built floor | NO |") in text
    # with paired rounds their median ratio decides, the medians' ratio shown beside it
    paired = _bench(ORDER, "bitget_fast RestClient", 400.0e-6)
    paired["extra_info"]["x_floor_paired"] = 1.15
    text = report.render({"benchmarks": [paired, _bench(ORDER, "pre-built floor", 300.0e-6)]})
    assert (f"| {ORDER} | ≤ 1.2x the pre-built-request floor (same run), bitget_fast RestClient "
            "| 1.15x pre-built floor (paired rounds; ratio of medians 1.33x) | yes |") in text
    paired["extra_info"]["x_floor_paired"] = 1.28
    fast = _bench(ORDER, "bitget_fast RestClient", 300.0e-6)
    fast["extra_info"]["x_floor_paired"] = 1.28
    text = report.render({"benchmarks": [fast, _bench(ORDER, "pre-built floor", 300.0e-6)]})
    assert (f"| {ORDER} | ≤ 1.2x the pre-built-request floor (same run), bitget_fast RestClient "
            "| 1.28x pre-built floor (paired rounds; ratio of medians 1.00x) | NO |") in text
    # without the compared case the target is listed as not run
    text = report.render({"benchmarks": [_bench(ORDER, "pre-built floor", 300.0e-6)]})
    assert f"| {ORDER} | — | not run | — |" in text
