"""The README stays true: the verification recipe it prints is the one the test suite runs."""

from __future__ import annotations

from pathlib import Path

from jobs.alerts.messages import VERIFY_RECIPE

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_webhook_recipe_is_the_tested_one() -> None:
    assert VERIFY_RECIPE.strip() in README.read_text()


def test_quick_start_is_exactly_two_commands() -> None:
    text = README.read_text()
    block = text.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    assert [line for line in block.splitlines() if line.strip()] == [
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/gapcast up",
        ".venv/bin/python -m pytest",
    ]
