"""What every report shares: number formats, Markdown tables, image links, and writing the files."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from featvslearn.reports import shared, write_markdown
from featvslearn.reports.compare import figures
from featvslearn.reports.shared import (
    fmt_bytes,
    fmt_mean_max,
    fmt_mean_std,
    fmt_percent,
    fmt_rate,
    fmt_seconds,
    fmt_speed_up,
    image,
    image_lines,
    md_table,
    png_bytes,
    write_report,
)
from tests.hand_made import compare_results


def test_number_formats() -> None:
    assert [fmt_bytes(None), fmt_bytes(5 * 1024**2), fmt_bytes(3 * 1024**3)] == ["–", "5 MiB", "3.00 GiB"]
    assert [fmt_percent(None), fmt_percent(42.4)] == ["–", "42%"]
    assert [fmt_mean_max(None, None), fmt_mean_max(12.3, 99.6)] == ["–", "12% / 100%"]
    assert [fmt_seconds(1.234), fmt_seconds(12.34)] == ["1.23", "12.3"]
    assert fmt_rate(12345.6) == "12,346"
    assert [fmt_speed_up(None), fmt_speed_up(12.34), fmt_speed_up(1234.5)] == ["–", "12.3×", "1,234×"]
    assert [fmt_mean_std(0.9, 0.01, 1), fmt_mean_std(0.9, 0.01, 3, digits=2)] == ["0.9000", "0.90 ± 0.01"]


def test_markdown_tables_align_numbers_right_and_escape_pipes() -> None:
    assert md_table(["name", "kind", "value"], [["a|b", "x", "1"]], text_columns=2) == [
        "| name | kind | value |", "| --- | --- | ---: |", "| a\\|b | x | 1 |"]


def test_image_links_are_percent_encoded_and_alt_text_has_no_brackets() -> None:
    line = image("run [1]: confusion matrix", "my report #2-plots/confusion.png")
    assert line == "![run (1): confusion matrix](my%20report%20%232-plots/confusion.png)"
    assert unquote(line.split("](")[1][:-1]) == "my report #2-plots/confusion.png"
    assert image_lines({"a": "p/a.png"}, "a", "alt") == ["![alt](p/a.png)", ""]
    assert image_lines({}, "a", "alt") == []


def test_same_figure_gives_the_same_png_bytes() -> None:
    results = compare_results()
    first = png_bytes(figures(results)["confusion-cnn-on-cpu"])
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
    assert png_bytes(figures(results)["confusion-cnn-on-cpu"]) == first


def test_a_report_without_figures_makes_no_plots_folder(tmp_path: Path) -> None:
    write_report(tmp_path / "r.md", {}, lambda links: f"links: {links}")
    assert (tmp_path / "r.md").read_text() == "links: {}"
    assert list(tmp_path.iterdir()) == [tmp_path / "r.md"]


def test_an_interrupted_report_leaves_no_plots_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(shared, "atomic_write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_markdown(compare_results(("cpu",)), tmp_path / "r.md")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(shared, "png_bytes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_markdown(compare_results(("cpu",)), tmp_path / "r.md")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_report_keeps_a_plots_folder_that_was_there(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "r-plots").mkdir()
    (tmp_path / "r-plots" / "mine.txt").write_text("kept")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(shared, "atomic_write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_markdown(compare_results(("cpu",)), tmp_path / "r.md")
    assert (tmp_path / "r-plots" / "mine.txt").read_text() == "kept" and not (tmp_path / "r.md").exists()
