"""Reports of every kind: one mapping from results kind to writers, and links that survive odd names."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest

from featvslearn.reports import KINDS, markdown, table, write_markdown
from featvslearn.results import RESULT_KINDS, Results
from tests.hand_made import ablate_results, compare_results, merged_compare_results, scaling_results

MAKERS: dict[str, Callable[[], Results]] = {"compare": compare_results, "scaling": scaling_results,
                                            "ablate": ablate_results, "merged-compare": merged_compare_results}


def test_every_kind_of_results_has_a_report() -> None:
    assert set(KINDS) == set(RESULT_KINDS) == set(MAKERS)
    with pytest.raises(TypeError):
        KINDS["other"] = KINDS["compare"]  # type: ignore[index]


def test_the_reports_do_not_import_rich() -> None:
    code = "import sys, featvslearn.reports; print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_dispatch_reaches_the_kinds_own_writers(kind: str) -> None:
    results = MAKERS[kind]()
    assert markdown(results) == KINDS[kind].markdown(results, {})
    assert table(results) == KINDS[kind].table(results)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_image_links_of_a_report_named_with_a_space_resolve_to_its_pngs(kind: str, tmp_path: Path) -> None:
    report = tmp_path / f"my {kind} #1.md"
    write_markdown(MAKERS[kind](), report)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report.read_text())
    assert links and all(" " not in link and "#" not in link for link in links)  # one link each, not broken
    files = [report.parent / unquote(link) for link in links]
    assert all(file.is_file() and file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for file in files)
    assert sorted(files) == sorted((tmp_path / f"my {kind} #1-plots").iterdir())
