"""The README's config reference is the config: every option listed, every listed default true."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from offerwise.config import Config

README = Path(__file__).resolve().parents[1] / "README.md"


def _config_block() -> str:
    text = README.read_text()
    return re.search(r"## Config.*?```toml\n(.*?)```", text, re.S).group(1)


def test_readme_config_reference_lists_every_option_with_its_default() -> None:
    block = _config_block()
    assert Config.model_validate(tomllib.loads(block)) == Config()  # the uncommented values are the defaults
    documented: dict[str, set[str]] = {}
    section = None
    for line in block.splitlines():
        if m := re.match(r"\[(\w+)\]", line):
            section = m.group(1)
        elif m := re.match(r"#?\s*(\w+) = ", line):
            documented.setdefault(section, set()).add(m.group(1))
    for name, field in Config.model_fields.items():
        missing = set(field.annotation.model_fields) - documented.get(name, set())
        assert not missing, f"[{name}] options missing from the README: {sorted(missing)}"
        commented_only = {k for k, f in field.annotation.model_fields.items() if f.default is not None} - set(
            tomllib.loads(block).get(name, {})
        )
        assert not commented_only, f"[{name}] options with a default shown only as a comment: {sorted(commented_only)}"
