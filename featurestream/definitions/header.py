"""The ``-- key: value`` header of a definition file, and the parsers for its values.

A definition file starts with header lines (``-- name: user_clicks``); plain ``--`` comments may sit
between them; the first other line starts the body. Every error names the file and line and says
what was expected.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from featurestream.durations import parse_duration
from featurestream.errors import DefinitionError

__all__ = ["mapping", "parse_header", "positive_duration", "require", "snake_name", "split_top"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_HEADER_LINE = re.compile(r"^--\s*([a-z_]+)\s*:\s*(.*?)\s*$")


def parse_header(text: str, path: str = "") -> tuple[dict[str, tuple[str, int]], str, int]:
    """Split a definition into ``{key: (value, line)}``, the body, and the body's first line."""
    header: dict[str, tuple[str, int]] = {}
    lines = text.splitlines()
    body_start = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        m = _HEADER_LINE.match(stripped)
        if m:
            key = m.group(1)
            if key in header:
                raise DefinitionError(f"header key {key!r} appears twice", path=path, line=i + 1)
            header[key] = (m.group(2), i + 1)
            continue
        if stripped.startswith("--"):
            continue  # a plain comment inside the header
        body_start = i
        break
    body = "\n".join(lines[body_start:]).strip().rstrip(";").strip()
    return header, body, body_start + 1


def require(header: dict[str, tuple[str, int]], key: str, path: str, example: str) -> tuple[str, int]:
    """The ``(value, line)`` of a mandatory, non-empty header key; missing -> DefinitionError with an example."""
    if key not in header or not header[key][0]:
        raise DefinitionError(
            f"missing header line '-- {key}: ...'", path=path, line=1, hint=f"add e.g. '-- {key}: {example}'"
        )
    return header[key]


def snake_name(value: str, what: str, path: str, line: int) -> str:
    """``value`` unchanged if it is snake_case (a-z, 0-9, _; starting with a letter), else DefinitionError."""
    if not _NAME.match(value):
        raise DefinitionError(
            f"{what} must be snake_case (a-z, 0-9, _; starting with a letter), found {value!r}",
            path=path,
            line=line,
        )
    return value


def positive_duration(header: dict[str, tuple[str, int]], key: str, path: str, default: str | None) -> timedelta:
    """A header duration (``10m``, ``1h``) that must be > 0; absent -> ``default``, or required if None."""
    if key not in header:
        if default is None:
            require(header, key, path, "1h")
        return parse_duration(str(default))
    value, line = header[key]
    try:
        td = parse_duration(value)
    except ValueError as exc:
        raise DefinitionError(str(exc), path=path, line=line) from exc
    if td <= timedelta(0):
        raise DefinitionError(f"{key} must be positive, found {value!r}", path=path, line=line)
    return td


def _literal(text: str) -> Any:
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        return text.strip("'\"")


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets, parentheses and quotes."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"`":
            quote = ch
        elif ch in "([<{":
            depth += 1
        elif ch in ")]>}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def mapping(value: str, what: str, path: str, line: int) -> dict[str, Any]:
    """``{"a": 1}`` or ``a=1, b=[0.0, 0.0]`` -> dict."""
    value = value.strip()
    if not value:
        return {}
    if value.startswith("{"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DefinitionError(f"{what} is not a valid JSON object: {exc}", path=path, line=line) from exc
        if not isinstance(parsed, dict):
            raise DefinitionError(f"{what} must be a JSON object", path=path, line=line)
        return parsed
    out: dict[str, Any] = {}
    for part in split_top(value):
        if "=" not in part:
            raise DefinitionError(
                f"{what}: expected name=value, found {part!r}",
                path=path,
                line=line,
                hint=f"write '-- {what}: a=0, b=0.0' or a JSON object",
            )
        k, v = part.split("=", 1)
        out[k.strip()] = _literal(v)
    return out
