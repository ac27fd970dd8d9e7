"""HL7 DTM times as XDS metadata carries them (ITI TF-3 4.2.3.1.5): UTC, YYYY[MM[DD[hh[mm[ss]]]]].

Times of different precision are made comparable by one rule: a DTM names the earliest instant of
the period it covers, so `2004` is 2004-01-01T00:00:00 and `200412` is 2004-12-01T00:00:00. Both a
stored time and a query bound are padded that way to 14 digits, and the padded strings compare
lexically in time order.
"""

from __future__ import annotations

import re

_DTM = re.compile(r"(\d{4}(?:\d{2}){0,5})")
_FRACTION = re.compile(r"\d{14}\.\d+")
_EARLIEST = "0101000000"


def dtm_key(value: str | None) -> str | None:
    """Return a DTM padded to 14 digits (YYYYMMDDhhmmss) by the earliest-instant rule, or None.

    Fractional seconds are dropped; anything that is not a DTM (a time zone offset, an odd number
    of digits, letters) gives None.
    """
    if value is None:
        return None
    value = value.strip()
    if _FRACTION.fullmatch(value):
        value = value[:14]
    if not _DTM.fullmatch(value):
        return None
    return value + _EARLIEST[len(value) - 4 :]
