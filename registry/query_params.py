"""Stored query parameters of ITI-18: their value syntax and a reader that checks them.

A Slot's Value is a single value, `'text'` (a quote inside is doubled: `'O''Brien'`) or an unquoted
number, or a list of them, `('a','b')`. Within one Slot every item of every Value is an alternative
(OR). Several Slots of the same name are AND-ed (ITI TF-2a 3.18.4.1.2.3), which only narrows the
result for the code parameters naming a multi-valued attribute; for the other list parameters the
Slots are simply united, and a single-valued parameter may not repeat.
"""

from __future__ import annotations

import re

from registry.dtm import dtm_key
from registry.errors import ErrorCode, Issue, XdsError
from registry.metadata import Code
from registry.validation.formats import dtm_problem

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

# Far beyond any real query; bounds the SQL a hostile request can make the registry run.
MAX_VALUES = 1000
MAX_SLOTS = 50


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
    XDSStoredQueryParamNumber when a single-valued one has several values or Slots, XDSRegistryError
    when a value is malformed. Parameters nobody reads are ignored, as ebRS 3.0 6.3.2.1 requires.
    """

    def __init__(self, slots: dict[str, list[list[str]]]) -> None:
        # A Slot without Values says nothing; a parameter given only by such Slots is absent.
        kept = {
            name: [values for values in occurrences if values]
            for name, occurrences in slots.items()
        }
        self._slots = {name: occurrences for name, occurrences in kept.items() if occurrences}

    def has(self, name: str) -> bool:
        """Whether the request carries the parameter."""
        return name in self._slots

    def single(self, name: str, *, required: bool = False) -> str | None:
        """Return a single-valued parameter's value: one Slot, one Value, one item."""
        clauses = self._clauses(name, required)
        if clauses is None:
            return None
        # Every Value holds at least one item, so one item in one clause means one Value.
        if len(clauses) > 1 or len(clauses[0]) > 1:
            raise _error(ErrorCode.STORED_QUERY_PARAM_NUMBER, name, "takes a single value")
        return clauses[0][0]

    def values(self, name: str, *, required: bool = False) -> list[str] | None:
        """Return a multi-valued parameter's values from all its Slots, any may match (OR)."""
        clauses = self._clauses(name, required)
        if clauses is None:
            return None
        return list(dict.fromkeys(item for clause in clauses for item in clause))

    def clauses(self, name: str, *, required: bool = False) -> list[list[str]]:
        """Return an AND/OR parameter: per Slot one clause of alternatives, all must hold."""
        clauses = self._clauses(name, required) or []
        return [list(dict.fromkeys(clause)) for clause in clauses]

    def codes(self, name: str) -> list[Code] | None:
        """Return a coded parameter's codes from all its Slots, any of which may match (OR)."""
        values = self.values(name)
        return None if values is None else [self._code(name, v) for v in values]

    def code_clauses(self, name: str) -> list[list[Code]]:
        """Return an AND/OR code parameter: per Slot one clause of alternatives, all must hold."""
        clauses = self._clauses(name, required=False) or []
        return [[self._code(name, v) for v in clause] for clause in clauses]

    def dtm(self, name: str) -> str | None:
        """Return a time parameter, checked to be a DTM."""
        value = self.single(name)
        if value is None:
            return None
        if dtm_key(value) is None:
            raise _error(ErrorCode.REGISTRY_ERROR, name, f"value {value!r} is not a DTM")
        if problem := dtm_problem(value.strip().partition(".")[0]):
            raise _error(ErrorCode.REGISTRY_ERROR, name, f"value {value!r} is not a DTM: {problem}")
        return value

    def _clauses(self, name: str, required: bool) -> list[list[str]] | None:
        """One clause per Slot: the items of all its Values, in order."""
        occurrences = self._slots.get(name)
        if occurrences is None:
            if required:
                raise _error(ErrorCode.STORED_QUERY_MISSING_PARAM, name, "is required")
            return None
        clauses = []
        for texts in occurrences:
            items: list[str] = []
            for text in texts:
                try:
                    items.extend(parse_value(text))
                except ValueError as exc:
                    raise _error(ErrorCode.REGISTRY_ERROR, name, f"is malformed: {exc}") from exc
            clauses.append(items)
        if len(clauses) > MAX_SLOTS or sum(len(items) for items in clauses) > MAX_VALUES:
            problem = f"has more than {MAX_SLOTS} Slots or {MAX_VALUES} values"
            raise _error(ErrorCode.REGISTRY_ERROR, name, problem)
        return clauses

    @staticmethod
    def _code(name: str, value: str) -> Code:
        try:
            return parse_code(value)
        except ValueError as exc:
            raise _error(ErrorCode.REGISTRY_ERROR, name, str(exc)) from exc


def _error(code: ErrorCode, name: str, problem: str) -> XdsError:
    return XdsError(Issue(code, f"parameter {name} {problem}", attribute=name))
