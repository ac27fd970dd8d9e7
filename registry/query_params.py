"""Stored query parameters of ITI-18: their value syntax and a reader that checks them.

A Slot's Value is a single value, `'text'` (a quote inside is doubled: `'O''Brien'`) or an unquoted
number, or a list of them, `('a','b')`. Parameters that take several values may carry several
Value elements (or several same-named Slots, which the wire codec merges into one list). For most
such parameters every value is an alternative (OR); for the code parameters with AND semantics
each Value is one clause, its list items OR-ed and the clauses AND-ed.
"""

from __future__ import annotations

import re

from registry.dtm import dtm_key
from registry.errors import ErrorCode, Issue, XdsError
from registry.metadata import Code

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_value(text: str) -> list[str]:
    """Parse one Value element, single value or list, into its items; ValueError if malformed."""
    text = text.strip()
    if not text.startswith("("):
        item, end = _scan_item(text, 0)
        if end != len(text):
            raise ValueError(f"unexpected text after the value: {text[end:]!r}")
        return [item]

    items: list[str] = []
    pos = 1
    while True:
        item, pos = _scan_item(text, _skip_space(text, pos))
        items.append(item)
        pos = _skip_space(text, pos)
        if text.startswith(",", pos):
            pos += 1
        elif text.startswith(")", pos) and pos == len(text) - 1:
            return items
        else:
            raise ValueError("a list must be ('a', 'b', ...)")


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _scan_item(text: str, pos: int) -> tuple[str, int]:
    if text.startswith("'", pos):
        parts: list[str] = []
        pos += 1
        while True:
            end = text.find("'", pos)
            if end < 0:
                raise ValueError("a quoted value is not closed")
            parts.append(text[pos:end])
            if not text.startswith("''", end):
                return "".join(parts), end + 1
            parts.append("'")
            pos = end + 2

    number = _NUMBER.match(text, pos)
    if number is None:
        raise ValueError("a value must be 'quoted' or a number")
    return number.group(), number.end()


def parse_code(text: str) -> Code:
    """Parse a coded query value, `code^^codingScheme`; ValueError if either part is missing."""
    code, separator, scheme = text.partition("^^")
    if not separator or not code or not scheme:
        raise ValueError(f"{text!r} is not code^^codingScheme")
    return Code(code, scheme)


class QueryParams:
    """The parameter slots of one stored query request, read and checked by name.

    Every reader raises `XdsError`: XDSStoredQueryMissingParam when a required parameter is absent,
    XDSStoredQueryParamNumber when a single-valued one has several values, XDSRegistryError when
    a value is malformed. Parameters nobody reads are ignored, as ebRS 3.0 6.3.2.1 requires.
    """

    def __init__(self, slots: dict[str, list[str]]) -> None:
        self._slots = {name: values for name, values in slots.items() if values}

    def has(self, name: str) -> bool:
        """Whether the request carries the parameter."""
        return name in self._slots

    def single(self, name: str, *, required: bool = False) -> str | None:
        """Return a single-valued parameter's value."""
        clauses = self._clauses(name, required)
        if clauses is None:
            return None
        if len(clauses) > 1 or len(clauses[0]) > 1:
            raise _error(ErrorCode.STORED_QUERY_PARAM_NUMBER, name, "takes a single value")
        return clauses[0][0]

    def values(self, name: str, *, required: bool = False) -> list[str] | None:
        """Return a multi-valued parameter's values, any of which may match (OR)."""
        clauses = self._clauses(name, required)
        if clauses is None:
            return None
        return list(dict.fromkeys(item for clause in clauses for item in clause))

    def codes(self, name: str) -> list[Code] | None:
        """Return a coded parameter's codes, any of which may match (OR)."""
        values = self.values(name)
        return None if values is None else [self._code(name, v) for v in values]

    def code_clauses(self, name: str) -> list[list[Code]]:
        """Return an AND/OR code parameter: one clause of alternatives per Value, all must hold."""
        clauses = self._clauses(name, required=False) or []
        return [[self._code(name, v) for v in clause] for clause in clauses]

    def dtm(self, name: str) -> str | None:
        """Return a time parameter, checked to be a DTM."""
        value = self.single(name)
        if value is not None and dtm_key(value) is None:
            raise _error(ErrorCode.REGISTRY_ERROR, name, f"value {value!r} is not a DTM")
        return value

    def _clauses(self, name: str, required: bool) -> list[list[str]] | None:
        raw = self._slots.get(name)
        if raw is None:
            if required:
                raise _error(ErrorCode.STORED_QUERY_MISSING_PARAM, name, "is required")
            return None
        clauses = []
        for text in raw:
            try:
                items = parse_value(text)
            except ValueError as exc:
                raise _error(ErrorCode.REGISTRY_ERROR, name, f"is malformed: {exc}") from exc
            clauses.append(items)
        return clauses

    @staticmethod
    def _code(name: str, value: str) -> Code:
        try:
            return parse_code(value)
        except ValueError as exc:
            raise _error(ErrorCode.REGISTRY_ERROR, name, str(exc)) from exc


def _error(code: ErrorCode, name: str, problem: str) -> XdsError:
    return XdsError(Issue(code, f"parameter {name} {problem}", attribute=name))
