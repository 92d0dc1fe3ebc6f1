"""Name normalisation and alias resolution (forecasts.records.names)."""

from __future__ import annotations

import re

import pytest

from forecasts.records.names import (
    DATED,
    EXACT,
    LOOSE,
    WEAK,
    NameIndex,
    canonical_id,
    date_stamp,
    loose_key,
    name_key,
    strip_effort,
)


@pytest.mark.parametrize(
    "spellings",
    [
        # the three sources' spellings of one model
        ["DeepSeek-R1-0528", "DeepSeek R1 0528 (May '25)", "deepseek-r1-0528", "chutes/DeepSeek-R1-0528",
         "deepseek-ai/DeepSeek-R1-0528"],
        # Epoch effort / thinking-budget suffixes and Arena thinking suffixes are variants of one model
        ["o3-2025-04-16_high", "o3-2025-04-16_low", "o3-2025-04-16_unknown", "o3-2025-04-16"],
        ["claude-opus-4-20250514", "claude-opus-4-20250514_32K", "claude-opus-4-20250514-thinking-16k"],
        ["QwQ-32B (16K thinking)", "QwQ-32B", "qwq-32b"],
        ["gemini-2.5-flash-preview-04-17 (24K thinking)", "gemini-2.5-flash-preview-04-17"],
        # AA reasoning-mode and effort tags
        ["Claude Opus 4.6 (Non-reasoning, High Effort)", "Claude Opus 4.6 (Adaptive Reasoning, Max Effort)",
         "claude-opus-4-6", "Claude Opus 4.6"],
        ["GPT-5 (high)", "GPT-5 (minimal)", "gpt-5-high", "GPT-5"],
        ["o3-mini-high", "o3-mini", "o3-mini (high)"],
        ["qwen3-235b-a22b-no-thinking", "Qwen3 235B A22B (Reasoning)", "Qwen3-235B-A22B"],
        # separators, case, unicode hyphens, precision, single-digit version dashes
        ["GPT\u20115-Codex", "gpt-5-codex", "GPT 5 Codex"],
        ["llama-3.1-405b-instruct-fp8", "Llama-3.1-405B-Instruct", "meta-llama/Meta-Llama-3.1-405B-Instruct"],
        ["claude-3-5-sonnet-20241022", "Claude-3.5-Sonnet-2024-10-22", "claude 3.5 sonnet 20241022"],
        ["chatgpt-4o-01-29-2025", "chatgpt-4o-20250129"],
        ["Gemini 2.0 Flash (experimental)", "gemini-2.0-flash-exp"],
    ],
)
def test_spellings_of_one_model_share_a_key(spellings: list[str]) -> None:
    keys = {name_key(s) for s in spellings}
    assert len(keys) == 1, keys


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("gpt-4o", "gpt-4o-mini"),
        ("o3", "o3-mini"),
        ("o3", "o3-pro"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-11-20"),         # two versions of one family
        ("DeepSeek-R1", "DeepSeek-R1-0528"),
        ("gemini-2.5-flash-preview-04-17", "gemini-2.5-flash-preview-09-2025"),
        ("Kimi K2 Thinking", "Kimi K2"),                    # a distinct model, not a mode
        ("Qwen3-235B-A22B-Thinking-2507", "Qwen3-235B-A22B-Instruct-2507"),
        ("Command R+", "Command R"),
        ("Mistral Medium", "Mistral"),                      # "medium" is a name here, not an effort level
        ("claude-instant-1.1", "claude-instant-1.2"),
        ("Llama 3.1 8B", "Llama 3.1 70B"),
    ],
)
def test_different_models_keep_different_keys(a: str, b: str) -> None:
    assert name_key(a) != name_key(b)


def test_key_keeps_date_stamps_normalised() -> None:
    assert name_key("gpt-4o-2024-11-20") == "gpt-4o-20241120"
    assert name_key("gemini-2.5-flash-preview-09-2025") == "gemini-2.5-flash-preview-202509"
    assert name_key("DeepSeek R1 0528 (May '25)") == "deepseek-r1-0528"   # month tags are dropped
    assert name_key("") == "" and name_key(" () ") == ""


def test_loose_key_ignores_word_order_but_not_variants() -> None:
    assert loose_key("Claude 4 Opus") == loose_key("Claude Opus 4")
    assert loose_key("Llama 3.1 Instruct 405B") == loose_key("Llama-3.1-405B-Instruct")
    assert loose_key("Gemma 3 27B Instruct") == loose_key("gemma-3-27b-it")
    assert loose_key("Qwen3 Next 80B A3B (Reasoning)") != loose_key("Qwen3-Next-80B-A3B-Instruct")


@pytest.mark.parametrize(
    ("name", "stamp"),
    [
        ("claude-opus-4-20250514-thinking-16k", "2025-05-14"),
        ("gpt-4o-2024-08-06", "2024-08-06"),
        ("chatgpt-4o-01-29-2025", "2025-01-29"),
        ("gemini-2.5-flash-preview-09-2025", "2025-09"),
        ("DeepSeek V3 (Dec '24)", "2024-12"),
        ("Gemini 2.5 Pro Preview (Mar' 25)", "2025-03"),
        ("GPT-5.5 Instant (June 2026)", "2026-06"),
        ("DeepSeek-R1-0528", None),                         # MMDD or YYMM: ambiguous, no date
        ("gpt-5", None),
    ],
)
def test_date_stamp(name: str, stamp: str | None) -> None:
    assert date_stamp(name) == stamp


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("o3-2025-04-16_high", "o3-2025-04-16"),
        ("claude-opus-4-6", "claude-opus-4.6"),                      # one id style: dots for versions
        ("claude-3-5-sonnet-20241022", "claude-3.5-sonnet-2024-10-22"),
        ("Claude Fable 5 (Adaptive Reasoning, Max Effort, Opus 4.8 Fallback)", "claude-fable-5"),
        ("Qwen2.5-72B-Instruct", "qwen2.5-72b-instruct"),
        ("qwen-2-7b", "qwen-2-7b"),                                  # a size, not a version
        ("WizardLM-2-8x22B", "wizardlm-2-8x22b"),
        ("command-r-08-2024", "command-r-2024-08"),
        ("DeepSeek-R1-0528", "deepseek-r1-0528"),
        ("chutes/DeepSeek-R1-0528", "deepseek-r1-0528"),
        ("GPT-4o (May '24)", "gpt-4o-may-2024"),
        ("Claude 4 Opus (Reasoning)", "claude-4-opus"),
        ("QwQ-32B (16K thinking)", "qwq-32b"),
        ("Command A+", "command-a-plus"),
        ("Mistral Medium", "mistral-medium"),
        ("Llama-2-70b-hf ", "llama-2-70b-hf"),
        ("  ", "model-e3b0c4"),  # no letters: a hashed placeholder, never one shared id
    ],
)
def test_canonical_id(name: str, slug: str) -> None:
    assert canonical_id(name) == slug
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]*", canonical_id(name))


def test_strip_effort_keeps_the_spelling() -> None:
    assert strip_effort("GPT-5 (high)") == "GPT-5"
    assert strip_effort("Claude Opus 4.5 (32k thinking)") == "Claude Opus 4.5"
    assert strip_effort("o3-2025-04-16_high") == "o3-2025-04-16"
    assert strip_effort("GPT-4o (May '24)") == "GPT-4o (May '24)"
    # a fallback is a serving configuration, not a model (issue 11): the canonical model is Claude Fable 5
    assert strip_effort("Claude Fable 5 (Adaptive Reasoning, Max Effort, Opus 4.8 Fallback)") == "Claude Fable 5"


def test_index_resolves_any_alias() -> None:
    index = NameIndex()
    index.add("deepseek-r1-0528", "deepseek-r1-0528", "DeepSeek-R1-0528", "DeepSeek R1 0528 (May '25)")
    index.add("deepseek-r1", "deepseek-r1", "DeepSeek-R1")
    assert index.resolve("deepseek-r1-0528") == "deepseek-r1-0528"
    assert index.resolve("DeepSeek R1 0528") == "deepseek-r1-0528"
    assert index.resolve("chutes/DeepSeek-R1-0528") == "deepseek-r1-0528"
    assert index.resolve("DeepSeek R1 (Jan '25)") == "deepseek-r1"
    assert index.resolve("DeepSeek V3") is None
    assert index.resolve("") is None


def test_index_never_resolves_a_prefix() -> None:
    index = NameIndex()
    index.add("gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", "GPT-4o mini")
    index.add("o3-mini-2025-01-31", "o3-mini-2025-01-31", "o3-mini")
    assert index.resolve("gpt-4o") is None
    assert index.resolve("o3") is None
    assert index.resolve("GPT-4o mini") == "gpt-4o-mini-2024-07-18"


def test_undated_name_resolves_only_while_one_dated_version_is_known() -> None:
    index = NameIndex()
    index.add("gpt-4o-2024-11-20", "gpt-4o-2024-11-20")
    assert index.resolve("gpt-4o") == "gpt-4o-2024-11-20"
    index.add("gpt-4o-2024-05-13", "gpt-4o-2024-05-13")
    assert index.resolve("gpt-4o") is None                              # a 2024-05 and a 2024-11 version
    assert index.resolve("gpt-4o-2024-05-13") == "gpt-4o-2024-05-13"
    assert index.candidates("GPT-4o (May '24)") == {"gpt-4o-2024-05-13": DATED, "gpt-4o-2024-11-20": DATED}


def test_strong_names_win_over_weak_ones_and_ambiguity_is_none() -> None:
    index = NameIndex()
    index.add("sonar", "sonar")
    index.add("sonar-pro", "sonar-pro")
    index.add("sonar-pro", "Sonar", weak=True)          # Epoch's family name for sonar-pro
    assert index.resolve("Sonar") == "sonar"
    index.add("a", "Shared Family", weak=True)
    index.add("b", "Shared Family", weak=True)
    assert index.resolve("Shared Family") is None
    assert index.candidates("shared-family") == {"a": WEAK, "b": WEAK}
    assert index.candidates("Family Shared", loose=True) == {"a": LOOSE, "b": LOOSE}
    assert index.candidates("sonar") == {"sonar": EXACT, "sonar-pro": WEAK}
    assert index.ids() == ["a", "b", "sonar", "sonar-pro"]


def test_exact_ignores_undated_and_weak_forms() -> None:
    index = NameIndex()
    index.add("claude-opus-4-5-20251101", "claude-opus-4-5-20251101")
    index.add("claude-opus-4-5-20251101", "Claude Opus 4.5", weak=True)
    assert index.exact("claude-opus-4-5-20251101-thinking-32k") == {"claude-opus-4-5-20251101"}
    assert index.exact("Claude Opus 4.5") == set()
    assert index.exact("claude-opus-4-5") == set()


def test_weak_family_name_beats_the_undated_form_of_a_dated_version() -> None:
    """``command-r`` is the March 2024 model, not the only dated ``command-r-08-2024`` version."""
    index = NameIndex()
    index.add("command-r-08-2024", "c4ai-command-r-08-2024", "command-r-08-2024")
    assert index.resolve("command-r") == "command-r-08-2024"
    index.add("command-r-mar-2024", "Command-R (Mar '24)", weak=True)
    assert index.resolve("command-r") == "command-r-mar-2024"
    assert index.resolve("Command-R (Mar '24)") == "command-r-mar-2024"


def test_configuration_tags_fold_into_the_model_name() -> None:
    """Effort, reasoning mode and fallback tags are configurations of one model, never part of its key."""
    base = name_key("Claude Fable 5")
    for tagged in ("Claude Fable 5 (Adaptive Reasoning, Max Effort, Opus 4.8 Fallback)",
                   "Claude Fable 5 (Max Effort)", "Claude Fable 5 (Adaptive Reasoning)", "claude-fable-5 (high)"):
        assert name_key(tagged) == base, tagged
    # a parenthesised part that is not a configuration stays: it names another model
    assert name_key("Claude Fable 5 (Opus 4.8 Fallback, Vision)") != base


def test_styled_id_is_lower_case_with_dots_and_iso_dates() -> None:
    from forecasts.records.names import styled_id

    assert styled_id("Claude-Opus-4-6") == "claude-opus-4.6"
    assert styled_id("llama-3-1-8b-instruct") == "llama-3.1-8b-instruct"
    assert styled_id("gpt-4o-20240513") == "gpt-4o-2024-05-13"
    assert styled_id("chatgpt-4o-01-29-2025") == "chatgpt-4o-2025-01-29"
    assert styled_id("gpt-4-1106-preview") == "gpt-4-1106-preview"       # 4 digits: MMDD or YYMM, not a date
    assert styled_id("deepseek-r1-0528") == "deepseek-r1-0528"
    for slug in ("claude-opus-4.6", "gpt-4o-2024-05-13", "qwen-2-7b"):
        assert styled_id(slug) == slug                                       # idempotent


def test_a_date_suffix_stays_only_where_several_dated_versions_exist() -> None:
    from forecasts.records.names import drop_lone_dates

    ids = ["claude-opus-4.5-2025-11-01", "gpt-4o-2024-05-13", "gpt-4o-2024-11-20", "gpt-4-turbo-2024-04-09",
           "gemini-2.5-flash-preview-2025-09", "gemini-2.5-flash-preview-04-17"]
    out = drop_lone_dates(ids, {"gpt-4-turbo": {"gpt-4-1106-preview"}})
    assert out["claude-opus-4.5-2025-11-01"] == "claude-opus-4.5"            # one dated version: no date
    assert out["gpt-4o-2024-05-13"] == "gpt-4o-2024-05-13"                   # several: dates kept
    assert out["gpt-4-turbo-2024-04-09"] == "gpt-4-turbo-2024-04-09"         # the bare name is another model's
    assert out["gemini-2.5-flash-preview-2025-09"] == "gemini-2.5-flash-preview-2025-09"  # a sibling version


@pytest.mark.parametrize(
    ("text", "spdx"),
    [
        ("Mit", "MIT"), ("MIT", "MIT"), ("apache-2.0", "Apache-2.0"), ("Apache 2.0", "Apache-2.0"),
        ("Apache-2.0", "Apache-2.0"), ("CC-BY-NC 4.0", "CC-BY-NC-4.0"), ("Cc By Nc 4.0", "CC-BY-NC-4.0"),
        ("CC-BY-SA 3.0", "CC-BY-SA-3.0"),
        ("LLAMA 3.1 COMMUNITY LICENSE AGREEMENT", "LicenseRef-Llama-3.1-Community"),
        ("META LLAMA 3 COMMUNITY LICENSE AGREEMENT", "LicenseRef-Llama-3-Community"),
        ("Llama 2 Community License Agreement", "LicenseRef-Llama-2-Community"),
        ("Qianwen LICENSE", "LicenseRef-Tongyi-Qianwen"),
        ("Tongyi Qianwen LICENSE AGREEMENT", "LicenseRef-Tongyi-Qianwen"),
        ("MRL", "LicenseRef-Mistral-Research"), ("Mistral Research License", "LicenseRef-Mistral-Research"),
        ("Proprietary", "Proprietary"), ("Propretary", "Proprietary"),
        ("Other", None), ("", None), (None, None),
    ],
)
def test_licences_become_spdx_ids(text: str | None, spdx: str | None) -> None:
    from forecasts.records.licences import spdx_licence

    assert spdx_licence(text) == spdx
    if spdx is not None:
        assert spdx_licence(spdx) == spdx                                    # idempotent
        assert re.fullmatch(r"Proprietary|LicenseRef-[A-Za-z0-9.-]+|[A-Za-z0-9.+-]+", spdx)


def test_organisation_countries_come_from_the_sourced_table() -> None:
    from forecasts.records.organisations import OrganisationTableError, country_of, parse_table

    assert country_of("OpenAI") == "US" and country_of("DeepSeek") == "CN" and country_of("Mistral") == "FR"
    assert country_of("DeepSeek,Peking University") == "CN"                  # the first organisation's
    assert country_of("  mistral ai ") == "FR"                               # case and spacing ignored
    assert country_of("No Such Lab") == "" and country_of("") == ""           # unknown: no guess
    with pytest.raises(OrganisationTableError, match=r"organisation 1 .*'country'"):
        parse_table('[[organisation]]\nname = "X"\ncountry = "USA"\nsource = "s"\n')
    with pytest.raises(OrganisationTableError, match="'source'"):
        parse_table('[[organisation]]\nname = "X"\ncountry = "US"\n')
