"""Every figure README.md and the Makefile's help quote comes from one committed results file.

How it works, and how to update README after re-measuring:

* ``README_FIGURES`` is the table of prose figures: a piece of README text with ``{}`` where the figure
  goes, the results file, and how the figure is computed and formatted from it. README must contain
  the text with the figure filled in (line breaks count as spaces).
* ``MAKE_HELP_FIGURES`` does the same for the ``## `` help text of the Makefile's targets.
* Blocks between ``<!-- generated from docs/results/NAME.json: ... -->`` and ``<!-- end generated -->``
  in README must equal what featvslearn renders from that file (``GENERATED``): the terminal output
  of ``featvslearn report``, or the reading and table of the Markdown report.
* Anything in README's prose or the Makefile's help that looks like a measured figure (an accuracy
  such as 0.9362, a percentage, seconds or minutes, a speed-up such as 1.3×, a date) must be one of
  those figures; clock times must not appear at all.

Every failure names the text expected, so after a re-measurement the fix is to paste it into README
(or the Makefile's help). ``make classical`` and ``make scaling-short`` have no committed results file;
their times come from the newest row for the target in docs/benchmarks.md (``benchmark_seconds``).

The last test checks that every relative Markdown link in README, docs/ and examples/ points at a file
that exists.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "docs" / "results"


# ---------------------------------------------------------------- formats


def acc(value: float) -> str:
    """An accuracy as the reports print it: 0.9362."""
    return f"{value:.4f}"


def pct(value: float) -> str:
    """An accuracy as a percentage: 88.4 %."""
    return f"{100 * value:.1f} %"


def secs(value: float) -> str:
    """Seconds with one decimal: 21.0 s."""
    return f"{value:.1f} s"


def whole_secs(value: float) -> str:
    """Whole seconds: 240 s."""
    return f"{value:.0f} s"


def min_sec(value: float) -> str:
    """A run time for the lessons table: 9.6 s below a minute, else 3 min 23 s."""
    if value < 60:
        return secs(value)
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds} s"


def short_time(value: float) -> str:
    """A run time for ``make help``: 10 s below a minute, else 3.4 min."""
    return whole_secs(value) if value < 60 else f"{value / 60:.1f} min"


def count(value: int) -> str:
    """An image count: 1,000."""
    return f"{value:,}"


def date(results: dict[str, Any]) -> str:
    """The day a run finished (UTC): 2026-11-28."""
    return results["created"][:10]


def torch_version(results: dict[str, Any]) -> str:
    """The torch a run used, without its build tag: 2.14.1."""
    return results["environment"]["torch"].split("+")[0]


# ---------------------------------------------------------------- sources


@cache
def results_file(name: str) -> dict[str, Any]:
    """A committed results file of docs/results/, as plain JSON."""
    return json.loads((RESULTS / name).read_text())


def pipeline(results: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in results["pipelines"] if p["name"] == name)


def variant(results: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in results["variants"] if v["name"] == name)


def benchmark_seconds(target: str) -> float:
    """The wall time of ``make TARGET`` in the newest docs/benchmarks.md row that gives one."""
    for line in BENCHMARKS.read_text().splitlines():
        cells = line.split(" | ")
        if line.startswith("| ") and len(cells) >= 2 and f"`make {target}`" in cells[0]:
            found = re.search(r"(?:(\d+) min )?(\d+) s for the make target", cells[1])
            if found:
                return 60 * int(found.group(1) or 0) + int(found.group(2))
    raise AssertionError(f"docs/benchmarks.md has no row for `make {target}` with '... s for the make target'")


Compute = Callable[[], str]
"""How a figure is computed from its source and formatted, exactly as README shows it."""

DIGITS, FASHION, CUDA, BUDGET = "digits.json", "fashion.json", "fashion-cuda.json", "budget.json"
SCALING, ABLATE = "scaling.json", "ablate.json"


def r(name: str) -> dict[str, Any]:
    return results_file(name)


# ---------------------------------------------------------------- the figures README quotes

BENCH = "docs/benchmarks.md"


def total(name: str) -> float:
    """A results file's ``total_seconds``: from loading the data to the last prediction."""
    return r(name)["total_seconds"]


README_FIGURES: list[tuple[str, str, Compute]] = [
    # README text ({} is the figure), its source, and how the figure is computed from the source
    ("[docs/results/digits.md](docs/results/digits.md) ({}, 2-core CPU)", DIGITS, lambda: date(r(DIGITS))),
    ("(torch {}, bf16;", FASHION, lambda: torch_version(r(FASHION))),
    ("bf16; {}), each pipeline followed", FASHION, lambda: date(r(FASHION))),
    ("with {} landmarks;", FASHION,
     lambda: count(pipeline(r(FASHION), "hog-svm")["details"]["svm_settings"]["n_components"])),
    ("cnn: {} epochs)", FASHION, lambda: str(pipeline(r(FASHION), "cnn")["details"]["epochs_trained"])),
    # the lessons table
    ("| the whole experiment on digits | {} |", DIGITS, lambda: min_sec(total(DIGITS))),
    ("| the same on all of Fashion-MNIST | {} |", FASHION, lambda: min_sec(total(FASHION))),
    ("each side at its best within a 60-second budget on this machine, now | {} |", BUDGET,
     lambda: min_sec(total(BUDGET))),
    ("| hog-svm against the bag-of-visual-words sift-svm | {} |", BENCH,
     lambda: min_sec(benchmark_seconds("classical"))),
    ("| data: 100, 1,000 and 10,000 training images | {} |", BENCH,
     lambda: min_sec(benchmark_seconds("scaling-short"))),
    ("run it before a session | {} |", SCALING, lambda: min_sec(total(SCALING))),
    ("2010–2015's | {} |", ABLATE, lambda: min_sec(total(ABLATE))),
    # what the lessons show
    ("from {} training images on", SCALING, lambda: count(r(SCALING)["crossover"]["hog-svm"]["size"])),
    ("[docs/results/scaling.md](docs/results/scaling.md), {})", SCALING, lambda: date(r(SCALING))),
    ("stays at chance, {},", ABLATE, lambda: pct(variant(r(ABLATE), "sigmoid-deep-plain")["accuracy"])),
    ("ReLU with batch norm reaches {}", ABLATE, lambda: pct(variant(r(ABLATE), "relu-deep-bn")["accuracy"])),
    ("[docs/results/ablate.md](docs/results/ablate.md), {})", ABLATE, lambda: date(r(ABLATE))),
    # on a GPU
    ("(torch {}, ", CUDA, lambda: r(CUDA)["environment"]["torch"]),
    (", {}) the same Fashion-MNIST", CUDA, lambda: date(r(CUDA))),
    ("Fashion-MNIST comparison took {}:", CUDA, lambda: secs(total(CUDA))),
    ("the CNN reached {} in", CUDA, lambda: acc(pipeline(r(CUDA), "cnn")["accuracy"])),
    ("in {} of training and hog-svm", CUDA, lambda: secs(pipeline(r(CUDA), "cnn")["train_seconds"])),
    ("and hog-svm {} in", CUDA, lambda: acc(pipeline(r(CUDA), "hog-svm")["accuracy"])),
    ("in {} ([docs/results/fashion-cuda.md]", CUDA, lambda: secs(pipeline(r(CUDA), "hog-svm")["train_seconds"])),
]

MAKE_HELP_FIGURES: list[tuple[str, str, str, Compute]] = [
    # target          help text ({} is the figure)  source   the figure
    ("demo",          "({})",                       DIGITS,  lambda: short_time(total(DIGITS))),
    ("fashion",       "({} on 2 cores)",            FASHION, lambda: short_time(total(FASHION))),
    ("budget",        "({})",                       BUDGET,  lambda: short_time(total(BUDGET))),
    ("classical",     "({})",                       BENCH,   lambda: short_time(benchmark_seconds("classical"))),
    ("scaling-short", "({})",                       BENCH,   lambda: short_time(benchmark_seconds("scaling-short"))),
    ("scaling",       "({})",                       SCALING, lambda: short_time(total(SCALING))),
    ("ablate",        "({})",                       ABLATE,  lambda: short_time(total(ABLATE))),
]


# ---------------------------------------------------------------- blocks featvslearn renders


def terminal_output(name: str, tmp_path: Path) -> str:
    """What ``featvslearn report docs/results/NAME`` prints on an 80-column terminal, without its last line."""
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    done = subprocess.run([sys.executable, "-m", "featvslearn", "report", str(RESULTS / name),
                           "--out", str(tmp_path / "report.md")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=True)
    lines = done.stdout.splitlines()
    lines = lines[:next(i for i, line in enumerate(lines) if line.startswith("report written to"))]
    return "```\n" + "\n".join(lines) + "\n```"


def reading_and_table(name: str, tmp_path: Path) -> str:
    """The reading and the side-by-side table of the Markdown report of docs/results/NAME."""
    from featvslearn.reports.compare import markdown, reading
    from featvslearn.results import read_json

    results = read_json(RESULTS / name)
    report = markdown(results).splitlines()
    start = report.index("## Side by side") + 2
    table = report[start:report.index("", start)]
    return reading(results) + "\n\n" + "\n".join(table)


GENERATED: dict[str, Callable[[str, Path], str]] = {
    DIGITS: terminal_output,
    FASHION: reading_and_table,
}

BLOCK = re.compile(r"<!-- generated from docs/results/(\S+): [^>]*-->\n(.*?)\n<!-- end generated -->", re.DOTALL)


# ---------------------------------------------------------------- what looks like a figure

FIGURE_LIKE = re.compile(
    r"\b0\.\d{2,4}\b"                                            # an accuracy: 0.9362
    r"|\b\d[\d,]*(?:\.\d+)?\s?%"                                 # a percentage: 93.6 %
    r"|\b\d[\d,]*(?:\.\d+)?\s?(?:s|sec|seconds|min|minutes|h|hours)\b"  # a time: 21.0 s, 3 min
    r"|\b\d+(?:\.\d+)?×(?!\d)"                                   # a ratio: 1.3× (not 8×8)
    r"|\b\d{4}-\d{2}-\d{2}\b"                                    # a date
)
CLOCK_TIME = re.compile(r"\b\d{1,2}:\d{2}\b")


def flat(text: str) -> str:
    """Text with every run of white space (line breaks included) as one space."""
    return re.sub(r"\s+", " ", text)


def prose(text: str) -> str:
    """README without its generated blocks and code blocks: the text whose figures the table maps."""
    text = BLOCK.sub("", text)
    return re.sub(r"```.*?```", "", text, flags=re.DOTALL)


def unmapped(text: str, expected: list[str]) -> list[str]:
    """Figure-like strings of ``text`` outside every occurrence of the ``expected`` texts."""
    covered: set[int] = set()
    for wanted in expected:
        for found in re.finditer(re.escape(wanted), text):
            covered.update(range(found.start(), found.end()))
    return [found.group() + f"  (in: …{text[max(0, found.start() - 40):found.end() + 20]}…)"
            for found in FIGURE_LIKE.finditer(text) if not set(range(found.start(), found.end())) <= covered]


def help_comments() -> dict[str, str]:
    """Each Makefile target's help text (after ``## ``)."""
    return dict(re.findall(r"^([a-z0-9-]+):.*?## (.*)$", MAKEFILE.read_text(), flags=re.MULTILINE))


# ---------------------------------------------------------------- the tests


def slug(source: str, template: str) -> str:
    """A test id: the results file and the words around the figure."""
    return Path(source).stem + "-" + re.sub(r"\W+", "-", template.replace("{}", " ")).strip("-")[:40].lower()


@pytest.mark.parametrize(("template", "source", "compute"), README_FIGURES,
                         ids=[slug(source, template) for template, source, _ in README_FIGURES])
def test_readme_quotes_the_figure_of_its_results_file(template: str, source: str, compute: Compute) -> None:
    expected = template.format(compute())
    if expected not in flat(README.read_text()):
        pytest.fail(f"README.md should contain {expected!r} (the figure from {source}); update README, or "
                    f"README_FIGURES in {Path(__file__).name} if the sentence itself changed", pytrace=False)


@pytest.mark.parametrize(("target", "template", "source", "compute"), MAKE_HELP_FIGURES,
                         ids=[target for target, *_ in MAKE_HELP_FIGURES])
def test_make_help_quotes_the_figure_of_its_results_file(target: str, template: str, source: str,
                                                         compute: Compute) -> None:
    expected = template.format(compute())
    comment = help_comments()[target]
    if expected not in comment:
        pytest.fail(f"the Makefile's help for `{target}` is {comment!r}; it should contain {expected!r} "
                    f"(the figure from {source})", pytrace=False)


def test_generated_blocks_equal_what_featvslearn_renders_from_their_results(tmp_path: Path) -> None:
    blocks = BLOCK.findall(README.read_text())
    assert {name for name, _ in blocks} == set(GENERATED), "README's generated blocks and GENERATED differ"
    for name, shown in blocks:
        expected = GENERATED[name](name, tmp_path)
        shown_lines = [line.rstrip() for line in shown.splitlines()]
        expected_lines = [line.rstrip() for line in expected.splitlines()]
        if shown_lines != expected_lines:
            pytest.fail(f"README's block generated from docs/results/{name} differs from what featvslearn renders "
                        f"from that file; replace the block's content with:\n" + "\n".join(expected_lines),
                        pytrace=False)


def test_readme_quotes_no_figure_outside_the_table() -> None:
    text = flat(prose(README.read_text()))
    expected = [template.format(compute()) for template, _, compute in README_FIGURES]
    stray = unmapped(text, expected)
    assert not stray, ("README.md quotes figures that no results file backs; take them from a results file and "
                       f"add them to README_FIGURES in {Path(__file__).name}, or move them to docs/benchmarks.md:\n"
                       + "\n".join(stray))


def test_readme_has_no_clock_times() -> None:
    found = CLOCK_TIME.findall(prose(README.read_text()))
    assert not found, f"README.md names clock times {found}: a run is quoted by its date only"


def test_make_help_quotes_no_figure_outside_the_table() -> None:
    comments = help_comments()
    mapped = {target: template.format(compute()) for target, template, _, compute in MAKE_HELP_FIGURES}
    stray = [f"{target}: {found}" for target, comment in comments.items()
             for found in unmapped(comment, [mapped[target]] if target in mapped else [])]
    assert not stray, f"the Makefile's help quotes figures that MAKE_HELP_FIGURES does not map: {stray}"


def test_figure_table_covers_every_committed_results_file_it_names() -> None:
    named = {source for _, source, _ in README_FIGURES} | {source for _, _, source, _ in MAKE_HELP_FIGURES}
    for source in named - {BENCH}:
        assert (RESULTS / source).is_file(), f"docs/results/{source} is not committed"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_markdown_links_point_at_files_that_exist() -> None:
    pages = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").glob("*.md"))]
    broken = []
    for page in pages:
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)
