"""The --help of the app and of every command, as a newcomer reads it in an 80-column terminal."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from featvslearn.cli import app
from featvslearn.learned.variants import DEFAULT_ABLATION_VARIANTS

runner = CliRunner(env={"COLUMNS": "80"})
COMMANDS = ["compare", "scaling", "ablate", "report", "datasets", "predict"]
TYPE_LABELS = ("<bool>", "<str>", "<int>", "<path>", "BOOLEAN", "TEXT", "INTEGER", "PATH]")


def help_text(*command: str, flag: str = "-h") -> str:
    result = runner.invoke(app, [*command, flag])
    assert result.exit_code == 0, result.output
    return result.stdout


def plain(text: str) -> str:
    """The help's words without the boxes and line breaks, for phrases that wrap."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)], ids=["app", *COMMANDS])
def test_dash_h_is_help_and_fits_80_columns(command: list[str]) -> None:
    text = help_text(*command)
    assert text == help_text(*command, flag="--help")
    assert f"Usage: featvslearn {' '.join(command)}".replace("  ", " ") in text
    assert all(len(line) <= 80 for line in text.splitlines())


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)], ids=["app", *COMMANDS])
def test_no_type_labels(command: list[str]) -> None:
    text = help_text(*command)
    for label in TYPE_LABELS:
        assert label not in text
    for flag, words in [("--help", "Show this message"), ("--no-download", "Never download"), ("--tune", "Choose C"),
                        ("--compile", "torch.compile"), ("--epoch-accuracy", "Also measure"),
                        ("--version", "Show the version")]:
        if flag in text:  # a flag takes no value: nothing stands between it (and -h) and its help
            assert re.search(rf"{flag}(\s+-h)?\s+{re.escape(words)}", text), flag


def test_value_options_show_a_short_placeholder() -> None:
    text = help_text("compare")
    for option, placeholder in [("--dataset", "NAME|PATH"), ("--device", "DEVICE"), ("--pipelines", "LIST"),
                                ("--train-size", "N"), ("--seed", "N"), ("--data-dir", "PATH"),
                                ("--precision", "NAME"), ("--json", "PATH")]:
        assert re.search(rf"{option}\s+{re.escape(placeholder)}\s", text), option


def test_predict_usage_names_the_models_folder_and_images() -> None:
    text = help_text("predict")
    assert "Usage: featvslearn predict [OPTIONS] MODELS_DIR IMAGE..." in text
    assert re.search(r"--save\s+DIR\s", help_text("compare"))


def test_report_usage_names_the_results_json() -> None:
    text = help_text("report")
    assert "Usage: featvslearn report [OPTIONS] RESULTS_JSON" in text
    assert "{" not in text and "results_json" not in text
    assert "not the .md report" in plain(text)


def test_defaults_are_shown_whole() -> None:
    text = help_text("ablate")
    assert f"Default: {', '.join(DEFAULT_ABLATION_VARIANTS)}." in plain(text)
    for command in COMMANDS:
        for line in help_text(command).splitlines():
            if "[default:" in line:
                assert re.search(r"\[default: [^\]…]+\]", line), line  # on one line, not cut off


def test_the_app_lists_each_command_on_one_line_with_examples() -> None:
    text = help_text()
    rows = [line for line in text.splitlines() if re.match(r"│ [a-z]+ {2,}", line)]
    assert [row.split()[1] for row in rows] == ["compare", "ablate", "scaling", "datasets", "report", "predict"]
    commands_panel = text.split("Commands")[1].split("╰")[0]
    assert len([line for line in commands_panel.splitlines() if line.startswith("│")]) == len(COMMANDS)
    assert "featvslearn compare --dataset digits" in text
    assert "featvslearn compare --dataset cifar10 --device cuda" in text
    assert "featvslearn COMMAND -h" in text


def test_a_bad_option_points_to_dash_h() -> None:
    result = runner.invoke(app, ["compare", "--seed", "abc"])
    assert result.exit_code == 2
    assert "featvslearn compare -h" in result.output
