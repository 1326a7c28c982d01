"""Strict reading of a price cell (an upload, a shop's CSV): one US-dollar amount, or a reason it is refused.

Unlike ``metrics.parse_price``, which fishes the first number out of an LLM's chatty reply, a price *cell* must
be exactly one amount; anything else is refused with a reason, never guessed:

    >>> [read_price(t) for t in ("$1,499.99 ", "12,5", "1.499,99", "1e3", 39)]
    [1499.99, 12.5, 1499.99, 1000.0, 39.0]
    >>> check_price("-443"), check_price("1.499")[1][:18], check_price("$299.99through-$449.99")
    ((None, 'price is negative'), 'price is ambiguous', (None, 'price is a range'))

The rules (decided here, documented in the README's Pricer section):
- a leading ``$``, ``US$`` or ``USD`` (or a trailing ``USD``) and surrounding spaces are allowed; another currency
  sign (€, £, ¥) is refused: the lab prices in US dollars and does not convert;
- a minus sign or accounting parentheses: refused ("price is negative"); so are ``inf``, ``nan`` and booleans;
- an exponent is read as such: ``1e3`` is 1000 (not 1.0), ``2.5E2`` is 250;
- separators: the *last* separator is the decimal mark when both ``,`` and ``.`` appear, and every group before it
  must have three digits (``1,499.99`` and the European ``1.499,99`` both read 1499.99; ``1,49.99`` is refused);
  a lone comma followed by one or two digits is a decimal comma (``12,5`` is 12.5, ``12,50`` is 12.5); commas
  followed by groups of exactly three digits are thousands (``1,499`` is 1499: nobody prices to a tenth of a cent);
  a lone dot followed by exactly three digits after a non-zero whole part (``1.499``) is refused as ambiguous
  (a European thousands dot, or three decimals?); ``0.125`` and ``12.5`` are plain decimals;
- two amounts (``$299.99through-$449.99``, ``$10 - $20``) are a range: refused.
"""

from __future__ import annotations

import math
import re

from lab.core.errors import InputError

MISSING = "price is missing"
NO_PARSE = "price does not parse"
NEGATIVE = "price is negative"
RANGE = "price is a range"
CURRENCY = "price is not in US dollars"
AMBIGUOUS = "price is ambiguous"

_PREFIX = re.compile(r"^(?:US\s*\$|USD\s*\$?|\$)\s*", re.I)
_SUFFIX = re.compile(r"\s*(?:USD|US\s*dollars?|dollars?)$", re.I)
_EXPONENT = re.compile(r"^\d+(?:\.\d+)?[eE][+-]?\d+$")
_PLAIN = re.compile(r"^(?:\d[\d.,]*|\.\d+)$")
_GROUPED = re.compile(r"^\d{1,3}(?:X\d{3})+$")  # X stands for the thousands separator


def _grouped(text: str, sep: str) -> bool:
    return bool(_GROUPED.match(text.replace(sep, "X")))


def _number(body: str) -> tuple[float | None, str | None]:
    """The digits-and-separators part to a float, or a reason."""
    if _EXPONENT.match(body):
        return float(body), None
    if not _PLAIN.match(body):
        return None, NO_PARSE
    commas, dots = body.count(","), body.count(".")
    if commas and dots:
        dec = "," if body.rfind(",") > body.rfind(".") else "."
        thou = "." if dec == "," else ","
        whole, _, frac = body.rpartition(dec)
        if body.count(dec) != 1 or not frac or not _grouped(whole, thou):
            return None, f"{NO_PARSE} (separators do not group by thousands)"
        return float(whole.replace(thou, "") + "." + frac), None
    if commas:
        whole, _, frac = body.rpartition(",")
        if commas == 1 and 1 <= len(frac) <= 2:
            return float(f"{whole}.{frac}"), None  # a decimal comma: 12,5 -> 12.5
        if _grouped(body, ","):
            return float(body.replace(",", "")), None  # thousands: 1,499 -> 1499
        return None, f"{NO_PARSE} (commas do not group by thousands)"
    if dots > 1:
        if _grouped(body, "."):
            return float(body.replace(".", "")), None  # European thousands: 1.499.000
        return None, f"{NO_PARSE} (more than one decimal point)"
    if dots == 1:
        whole, _, frac = body.partition(".")
        if len(frac) == 3 and whole.strip("0"):
            return None, (
                f"{AMBIGUOUS}: {body} could be {whole}{frac} (a European thousands dot) or {body}; "
                f"write {whole}{frac} or {float(body):.2f}"
            )
        if not frac:
            return float(whole), None
    return float(body), None


def check_price(value) -> tuple[float | None, str | None]:
    """(dollars, None) for a clean price; (None, reason) otherwise. Never raises."""
    if value is None or isinstance(value, bool):
        return None, MISSING if value is None else NO_PARSE
    if isinstance(value, int | float):
        v = float(value)
        if v != v:
            return None, MISSING
        if not math.isfinite(v):
            return None, NO_PARSE
        return (None, NEGATIVE) if v < 0 else (v, None)
    text = str(value).strip().replace("\u2212", "-")
    if not text:
        return None, MISSING
    if "through" in text.lower() or text.count("$") > 1 or re.search(r"\d\s*(?:-|–|to)\s*\$?\d", text):
        return None, RANGE
    if re.search(r"[€£¥₹₩]|\b(?:EUR|GBP|JPY|INR|CAD|AUD)\b", text, re.I):
        return None, CURRENCY
    if text.startswith("(") and text.endswith(")"):
        return None, NEGATIVE  # accounting notation for a negative amount
    sign = ""
    if text[:1] in "+-":
        sign, text = text[0], text[1:].lstrip()
    text = _SUFFIX.sub("", _PREFIX.sub("", text)).strip()
    if text[:1] in "+-":  # $-443
        sign, text = text[0], text[1:].lstrip()
    if not text:
        return None, NO_PARSE
    v, why = _number(text)
    if why:
        return None, why
    if sign == "-" and v != 0:
        return None, NEGATIVE
    return (v, None) if math.isfinite(v) else (None, NO_PARSE)


def read_price(value) -> float:
    """The price, or ``InputError`` naming the reason (for one value typed by hand)."""
    v, why = check_price(value)
    if why:
        raise InputError(f"{value!r}: {why}.")
    return v
