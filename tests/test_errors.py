"""Messages for Makefile users: options the Makefile sets from variables are named as those variables."""

from __future__ import annotations

import pytest

from featvslearn.errors import in_make_terms


@pytest.mark.parametrize(("message", "expected"), [
    ("--device 'cuda': CUDA is not available on this machine (torch 2.14.1); use --device cpu",
     "DEVICE=cuda: CUDA is not available on this machine (torch 2.14.1); use DEVICE=cpu"),
    ("scaling runs on one device, not 'cpu,cuda'; pass one, such as --device cpu",
     "scaling runs on one device, not 'cpu,cuda'; pass one, such as DEVICE=cpu"),
    ("--device is empty; use auto, cpu", "DEVICE is empty; use auto, cpu"),
    ("--device 'cuda:3': this machine has 1 CUDA device(s); use --device cpu or cuda:0",
     "DEVICE=cuda:3: this machine has 1 CUDA device(s); use DEVICE=cpu or cuda:0"),
])
def test_the_device_option_becomes_the_make_variable(message: str, expected: str) -> None:
    assert in_make_terms(message, "--device=DEVICE") == expected


def test_other_options_and_longer_names_are_left_alone() -> None:
    message = "--devices and --device-list are not options; --data-dir 'x' does not exist"
    assert in_make_terms(message, "--device=DEVICE") == message


def test_outside_make_the_message_is_unchanged() -> None:
    message = "--device 'cuda': CUDA is not available; use --device cpu"
    assert in_make_terms(message, None) == message
    assert in_make_terms(message, "") == message


def test_several_variables_and_malformed_pairs() -> None:
    message = "--device cuda needs a GPU; --data-dir /x does not exist"
    assert (in_make_terms(message, "--device=DEVICES --data-dir=DATA_DIR junk =X --y=")
            == "DEVICES=cuda needs a GPU; DATA_DIR=/x does not exist")


# --------------------------------------------------------------------------- through the command line
def _error_lines(arguments: list[str], env: dict[str, str] | None = None) -> tuple[int, list[str], str]:
    from typer.testing import CliRunner

    from featvslearn.cli import app

    outcome = CliRunner().invoke(app, arguments, env=env)
    return outcome.exit_code, [line for line in outcome.stderr.splitlines() if line.strip()], outcome.output


def test_under_make_a_device_mistake_names_the_make_variable() -> None:
    make_env = {"FEATVSLEARN_MAKE_VARIABLES": "--device=DEVICE"}
    code, lines, _ = _error_lines(["scaling", "--device", "cpu,cpu"], env=make_env)
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("error:") and "DEVICE=cpu" in lines[0] and "--device" not in lines[0]


def test_outside_make_the_same_mistake_names_the_option() -> None:
    code, lines, _ = _error_lines(["scaling", "--device", "cpu,cpu"], env={"FEATVSLEARN_MAKE_VARIABLES": ""})
    assert code == 2 and len(lines) == 1 and "--device cpu" in lines[0]


@pytest.mark.parametrize(("arguments", "expected"), [
    (["compare", "--seed", "abc"], "'--seed'"),
    (["compare", "--sed", "1"], "--seed"),
    (["compar"], "compare"),
    (["report"], "RESULTS_JSON"),
])
def test_a_mistyped_option_or_command_is_one_error_line_pointing_to_help(arguments: list[str], expected: str) -> None:
    code, lines, output = _error_lines(arguments)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0]
    assert lines[0].endswith(" -h") and "╭" not in output and "Traceback" not in output
