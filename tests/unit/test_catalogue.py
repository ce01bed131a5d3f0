"""Every text a person sees comes from the catalogues, complete in both languages."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

from bot.text.catalogue import LANGUAGES, catalogue

ROOT = Path(__file__).resolve().parents[2]
USED = re.compile(r"""\b(?:tr|t|all_labels)\(\s*["']([a-z_]+\.[a-z_.]+)["']""")


# An error's key is given where it is raised and worded at the door (bot/domain/errors.py).
PROBLEM = re.compile(r"""["'](problem\.[a-z_]+\.?[a-z_.]*)["']""")


def keys_used_in_code() -> set[str]:
    found = set()
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "storage").rglob("*.py")]:
        code = path.read_text(encoding="utf-8")
        found |= set(USED.findall(code)) | set(PROBLEM.findall(code))
    return found


def test_error_keys_are_found_in_the_code():
    used = keys_used_in_code()
    assert {"problem.answer.no_code", "problem.backup.exists", "problem.plan.missing", "problem.text.bad_char"} <= used


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogues_have_the_same_keys_and_placeholders():
    vi, en = catalogue("vi"), catalogue("en")
    assert set(vi) == set(en)
    for key in vi:
        assert placeholders(vi[key]) == placeholders(en[key]), key


def test_every_key_used_in_code_is_in_every_catalogue():
    used = keys_used_in_code()
    assert len(used) > 50
    for lang in LANGUAGES:
        missing = used - set(catalogue(lang))
        assert not missing, (lang, sorted(missing))


def test_vietnamese_texts_address_residents_politely_with_diacritics():
    vi = catalogue("vi")
    for key in ("form.ask_name", "consent.text", "form.deadline_passed", "forget.confirm", "idle.use_menu"):
        assert "Ông/Bà" in vi[key], key
    assert "đăng ký" in vi["form.already_started"]


def test_no_user_facing_vietnamese_literals_in_the_code():
    """Vietnamese sentences belong in the catalogue; code holds keys (docstrings and the operator CLI aside)."""
    vietnamese = re.compile("[ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ]", re.I)
    offenders = []
    for path in (ROOT / "bot").rglob("*.py"):
        if "cli" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if vietnamese.search(node.value) and " " in node.value.strip():
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not offenders, "\n".join(offenders)


# Staff and operator texts are read on Telegram and the web console, which have buttons.
STAFF_PREFIXES = ("vh.", "paper.", "web.", "poster.", "demo.", "commands.", "report.", "sheet.", "group.")


def test_texts_that_mention_buttons_have_a_typed_variant_for_channels_without_them():
    vi = catalogue("vi")
    variants = [key for key in vi if key.endswith("@typed")]
    assert len(variants) > 20
    for key in variants:
        assert key.removesuffix("@typed") in vi, key
        assert not re.search(r"\b(bấm|nút|menu)\b", vi[key], re.I), key
    for key, text in vi.items():
        if "@" in key or key.startswith(STAFF_PREFIXES):
            continue
        if re.search(r"\b(bấm|menu)\b", text, re.I):
            assert key + "@typed" in vi, f"{key} tells a Zalo resident to press a button: add {key}@typed"
