"""Licence names as SPDX identifiers.

Sources write one licence many ways ("Mit", "MIT", "apache-2.0", "Apache 2.0"). :func:`spdx_licence` maps
them to an SPDX License List identifier (https://spdx.org/licenses/: ``MIT``, ``Apache-2.0``,
``CC-BY-NC-4.0``, ...). A licence that is not on the SPDX list (the Llama, Gemma, Qwen, DeepSeek model
licences) gets a ``LicenseRef-<name>`` identifier, which is what the SPDX specification prescribes for
licences outside the list (SPDX 2.3, annex D / clause 10.1: ``LicenseRef-[idstring]``, letters, digits,
``.`` and ``-``). ``Proprietary`` stays as it is: a marker for closed models, not a licence identifier.
"""

from __future__ import annotations

import re

__all__ = ["PROPRIETARY", "spdx_licence"]

PROPRIETARY = "Proprietary"

# Lower-cased spelling with separators collapsed to one space -> SPDX list identifier.
_SPDX = {
    "mit": "MIT",
    "mit license": "MIT",
    "apache 2.0": "Apache-2.0",
    "apache 2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license version 2.0": "Apache-2.0",
    "cc by 4.0": "CC-BY-4.0",
    "cc by sa 3.0": "CC-BY-SA-3.0",
    "cc by sa 4.0": "CC-BY-SA-4.0",
    "cc by nc 4.0": "CC-BY-NC-4.0",
    "cc by nc 4.0 license": "CC-BY-NC-4.0",
    "cc by nc sa 4.0": "CC-BY-NC-SA-4.0",
    "cc by nc nd 4.0": "CC-BY-NC-ND-4.0",
    "bsd 3 clause": "BSD-3-Clause",
    "gpl 3.0": "GPL-3.0-only",
    "openrail": "LicenseRef-OpenRAIL",
    "openrail m": "LicenseRef-OpenRAIL-M",
}
# Spellings of one non-listed licence -> its LicenseRef (so "Qianwen LICENSE" and "Tongyi Qianwen LICENSE
# AGREEMENT" are one licence). Anything else not on the SPDX list gets a LicenseRef built from its words.
_REFS = {
    "mrl": "LicenseRef-Mistral-Research",
    "mistral research": "LicenseRef-Mistral-Research",
    "qianwen": "LicenseRef-Tongyi-Qianwen",
    "tongyi qianwen": "LicenseRef-Tongyi-Qianwen",
    "modified mit": "LicenseRef-Modified-MIT",
    "llama": "LicenseRef-Llama-1",
    "meta llama 3 community": "LicenseRef-Llama-3-Community",
    "nvidia open model": "LicenseRef-NVIDIA-Open-Model",
    "non commercial": "LicenseRef-Non-Commercial",
}
_NOT_A_LICENCE = {"", "other", "open", "unknown", "n/a", "na", "none", "-", "see model card"}
_ACRONYMS = {"mit", "nc", "ai", "tii", "lfm", "hy", "x", "nvidia", "cc", "by", "sa", "nd", "with"}
_FILLER = {"license", "licence", "agreement", "the"}
_PROPRIETARY = re.compile(r"^propr?i?e?t?a?ry$|^propretary$|^proprietary\b", re.IGNORECASE)


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9.]+", text.lower().replace("_", " ")) if w and w != "."]


def spdx_licence(text: str | None) -> str | None:
    """The SPDX identifier for a licence as a source wrote it; ``Proprietary`` for a closed model's marker;
    None when the text names no licence (blank, ``Other``, ``Open``, ``unknown``).

    ``spdx_licence("Mit") == "MIT"``, ``spdx_licence("apache-2.0") == "Apache-2.0"``,
    ``spdx_licence("LLAMA 3.1 COMMUNITY LICENSE AGREEMENT") == "LicenseRef-Llama-3.1-Community"``.
    An identifier already in SPDX form is returned as it is (idempotent).
    """
    raw = " ".join((text or "").split())
    if raw.lower() in _NOT_A_LICENCE:
        return None
    if _PROPRIETARY.match(raw):
        return PROPRIETARY
    if raw.startswith("LicenseRef-") or raw in _SPDX.values():
        return raw
    words = _words(raw)
    key = " ".join(words)
    if key in _SPDX:
        return _SPDX[key]
    core = [w for w in words if w not in _FILLER]
    ckey = " ".join(core)
    if ckey in _SPDX:
        return _SPDX[ckey]
    if ckey in _REFS:
        return _REFS[ckey]
    if not core:
        return None
    if core[0] == "meta" and len(core) > 1 and core[1] == "llama":
        core = core[1:]
    # "llama 3.1 community" -> "Llama-3.1-Community"; known acronyms upper-case
    ref = "-".join(w.upper() if w in _ACRONYMS else w.capitalize() for w in core)
    ref = re.sub(r"[^A-Za-z0-9.-]", "", ref)
    return f"LicenseRef-{ref}"
