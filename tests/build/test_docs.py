"""The docs build from the repo without network: docs/api.md is what the installed package's
docstrings make, every public name has one, and every page's relative links and Python
blocks are sound (docs/build.py --check)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_docs_build_offline_and_api_reference_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "build.py"), "--check"],
                       capture_output=True, text=True, cwd="/", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "0 problems" in r.stderr


def test_the_checker_catches_what_it_claims(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bitget_fast_docs_build",
                                                  ROOT / "docs" / "build.py")
    docs_build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(docs_build)
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other heading\n")
    page.write_text("[ok](other.md#other-heading) [gone](missing.md) [bad](other.md#nope)\n"
                    "[web](https://example.invalid/x)\n\n```python\nx = (1,\n```\n\n"
                    "```python\nawait thing()\n```\n")
    monkeypatch.setattr(docs_build, "ROOT", tmp_path)
    problems = docs_build.check_markdown([page])
    assert len(problems) == 3, problems
    assert "missing.md: no such file" in problems[0]
    assert "other.md#nope: no such heading" in problems[1]
    assert "does not compile" in problems[2]
    text, missing = docs_build.build_api()
    assert not missing and "## bitget_fast.paper" in text and "`PaperExchange" in text
