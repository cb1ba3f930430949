"""Pattern detectors for personal data: a regular expression finds candidates, a rule confirms them.

A bare run of digits is not a card number: a candidate must also pass its check digits (Luhn for
cards, mod 97 for IBANs, the national rules in :mod:`podium.guardrails.pii.checksums`), be a number
``phonenumbers`` calls valid, an address :mod:`ipaddress` parses, or a real date next to words that
say "born".

Speed: every pass of a regular expression over a text costs about 20 µs per KB, so the text is read
once for its *numeric runs* (:class:`Prepared`) and the numeric detectors only look inside small
windows around them; the other detectors start from a cheap substring test.
"""

from __future__ import annotations

import bisect
import datetime
import ipaddress
import itertools
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from podium.guardrails.pii import checksums
from podium.guardrails.scanner import Finding

__all__ = [
    "Detector",
    "Prepared",
    "find_cards",
    "find_dates_of_birth",
    "find_emails",
    "find_ibans",
    "find_ips",
    "phone_finder",
]

# Digits with the separators people write inside numbers; four characters at least.
_RUN = re.compile(r"\d[\d \-./()]{2,}\d")
_BEFORE, _AFTER = 3, 4  # how far a window reaches around its run: "+44", "AB 12…", "…678Z"


_NOT_DIGITS = str.maketrans("", "", "0123456789")


class Prepared:
    """One text, read once for what several detectors need.

    ``windows`` are (start, end, digits) around each numeric run, neighbours merged; :meth:`take`
    claims the spans found by more certain detectors, so phone parsing skips them.
    """

    __slots__ = ("_lower", "_reach", "_starts", "text", "windows")

    def __init__(self, text: str) -> None:
        self.text = text
        self._lower: str | None = None
        self._starts: list[int] = []  # the taken spans' starts, sorted
        self._reach: list[int] = []  # the furthest end among the taken spans up to each of those starts
        spans: list[list[int]] = []
        n = len(text)
        for m in _RUN.finditer(text):
            start, end = max(0, m.start() - _BEFORE), min(n, m.end() + _AFTER)
            if spans and start <= spans[-1][1]:
                spans[-1][1] = end
            else:
                spans.append([start, end])
        self.windows = [(s, e, e - s - len(text[s:e].translate(_NOT_DIGITS))) for s, e in spans]

    @property
    def lower(self) -> str:
        if self._lower is None:
            self._lower = self.text.lower()
        return self._lower

    def numeric(self, pattern: re.Pattern[str], min_digits: int) -> list[re.Match[str]]:
        """Matches of ``pattern`` in the windows with at least ``min_digits`` digits, in text order."""
        text = self.text
        return [m for s, e, d in self.windows if d >= min_digits for m in pattern.finditer(text, s, e)]

    def take(self, spans: list[tuple[int, int]]) -> None:
        """Claim ``spans`` (found by more certain detectors): :meth:`is_taken` answers for them."""
        ordered = sorted(spans)
        self._starts = [s for s, _ in ordered]
        self._reach = list(itertools.accumulate((e for _, e in ordered), max))

    def is_taken(self, start: int, end: int) -> bool:
        """Whether [start, end) overlaps a taken span: among the spans starting before ``end``, the
        furthest-reaching one ends after ``start`` (a binary search, not a pass over every span)."""
        i = bisect.bisect_left(self._starts, end)
        return i > 0 and self._reach[i - 1] > start


Detector = Callable[[Prepared], list[Finding]]

# --------------------------------------------------------------------------- email

_EMAIL = re.compile(
    r"(?<![\w.%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w\-])"
)


def find_emails(p: Prepared) -> list[Finding]:
    text = p.text
    at = text.find("@")
    if at < 0:
        return []
    # Start the search shortly before the first "@": a local part is at most 64 characters.
    return [Finding("EMAIL", m.start(), m.end()) for m in _EMAIL.finditer(text, max(0, at - 65))]


# --------------------------------------------------------------------------- payment cards

# 13 to 19 digits, optionally grouped by single spaces or dashes.
_CARD = re.compile(r"(?<![\d\-])\d(?:[ \-]?\d){12,18}(?![\d])")


def _card_brand(digits: str) -> str | None:
    """The card network by its issuer prefix and length; ``None`` when no network issues it."""
    n = len(digits)
    two, three, four, six = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= two <= 55 or 2221 <= four <= 2720) and n == 16:
        return "mastercard"
    if two in (34, 37) and n == 15:
        return "amex"
    if (four == 6011 or two == 65 or 644 <= three <= 649 or 622126 <= six <= 622925) and 16 <= n <= 19:
        return "discover"
    if 3528 <= four <= 3589 and 16 <= n <= 19:
        return "jcb"
    if (300 <= three <= 305 or two in (36, 38, 39)) and 14 <= n <= 19:
        return "diners"
    if two == 62 and 16 <= n <= 19:
        return "unionpay"
    if two in (50, 56, 57, 58, 63, 67) and 12 <= n <= 19:
        return "maestro"
    return None


def find_cards(p: Prepared) -> list[Finding]:
    found = []
    for m in p.numeric(_CARD, 12):
        raw = m.group()
        if " " in raw and "-" in raw:  # mixed separators: not how a card number is written
            continue
        digits = raw.replace(" ", "").replace("-", "")
        brand = _card_brand(digits)
        if brand is not None and checksums.luhn(digits):
            found.append(Finding("CREDIT_CARD", m.start(), m.end(), detail=brand))
    return found


# --------------------------------------------------------------------------- IBAN

_IBAN = re.compile(r"[A-Z]{2}\d\d(?:[ ]?[A-Z0-9]){11,30}")


def find_ibans(p: Prepared) -> list[Finding]:
    found = []
    text = p.text
    for m in _IBAN.finditer(text):
        start = m.start()
        if start and text[start - 1].isalnum():
            continue
        raw = m.group()
        length = checksums.IBAN_LENGTHS.get(raw[:2])
        if length is None:
            continue
        # The pattern may run on into a following upper-case word: take exactly the country's length.
        end, count = start, 0
        for i, ch in enumerate(raw):
            if ch != " ":
                count += 1
                if count == length:
                    end = start + i + 1
                    break
        else:
            continue
        if end < len(text) and text[end].isalnum():
            continue  # it would end in the middle of a word
        if checksums.iban(text[start:end].replace(" ", "")):
            found.append(Finding("IBAN", start, end, detail=raw[:2]))
    return found


# --------------------------------------------------------------------------- IP addresses

_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:|::?)(?:[0-9A-Fa-f]{0,4}:){1,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def find_ips(p: Prepared) -> list[Finding]:
    found = []
    for m in p.numeric(_IPV4, 4):
        try:
            ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        found.append(Finding("IP_ADDRESS", m.start(), m.end(), detail="ipv4"))
    text = p.text
    if "::" in text or text.count(":") >= 5:
        for m in _IPV6.finditer(text):
            candidate = m.group()
            if candidate.count(":") < 2:
                continue
            try:
                ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            found.append(Finding("IP_ADDRESS", m.start(), m.end(), detail="ipv6"))
    return found


# --------------------------------------------------------------------------- phone numbers

# A leading + or (, digits with the separators people write; 7 to 15 digits are counted after.
_PHONE = re.compile(r"(?<![\w+\-./])(?:\+|00)?\(?\d[\d \-.()/]{5,22}\d(?![\w\-])")
_PHONE_SEPARATORS = re.compile(r"[ \-.()/]")
_NOT_A_PHONE = re.compile(r"\d{4}-\d\d-\d\d|\d{1,2}[./]\d{1,2}[./]\d{2,4}|(?:\d{1,3}\.){3}\d{1,3}")


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


@lru_cache(maxsize=1)
def _phonenumbers() -> Any:
    # Imported on first use: it is a large module, and a policy without phone detection never needs it.
    import phonenumbers

    return phonenumbers


@lru_cache(maxsize=4096)
def _phone_region(raw: str, digits: str, regions: tuple[str, ...]) -> str | None:
    """Where ``raw`` is a valid phone number (its region, or +country code), or ``None``.

    Cached: a conversation resends its earlier messages on every turn, with the same numbers in them.
    """
    pn = _phonenumbers()
    if raw.startswith(("+", "00")):
        try:
            number = pn.parse(raw, None)
        except pn.NumberParseException:
            return None
        return f"+{number.country_code}" if pn.is_valid_number(number) else None
    for region in regions:
        try:
            number = pn.parse(raw, region)
        except pn.NumberParseException:
            continue
        if _digits(pn.format_number(number, pn.PhoneNumberFormat.NATIONAL)) != digits:
            continue  # not how a national number is written there (FR and DE start with 0)
        if pn.is_valid_number_for_region(number, region):
            return region
    return None


def phone_finder(regions: tuple[str, ...]) -> Detector:
    """Phone numbers valid in one of ``regions`` (ISO country codes), or anywhere when written with +."""
    _phonenumbers()  # import now, not on the first request
    default_regions = tuple(regions) or ("US",)

    def find_phones(p: Prepared) -> list[Finding]:
        found = []
        for m in p.numeric(_PHONE, 7):
            raw = m.group()
            if p.is_taken(m.start(), m.end()):
                continue
            digits = _PHONE_SEPARATORS.sub("", raw).lstrip("+")
            if not 7 <= len(digits) <= 15 or raw.count("(") != raw.count(")") or _NOT_A_PHONE.fullmatch(raw):
                continue
            region = _phone_region(raw, digits, default_regions)
            if region is not None:
                found.append(Finding("PHONE", m.start(), m.end(), detail=region))
        return found

    return find_phones


# --------------------------------------------------------------------------- dates of birth

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_NAMES = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DATE = re.compile(
    r"(?<![\d/.\-])(?:"
    r"(?P<iso>\d{4})-(?P<iso_m>\d{1,2})-(?P<iso_d>\d{1,2})"
    r"|(?P<a>\d{1,2})[./\-](?P<b>\d{1,2})[./\-](?P<y>\d{4}|\d{2})"
    r"|(?P<dn>\d{1,2})(?:st|nd|rd|th)?\.? (?P<mn>" + _MONTH_NAMES + r")\.?,? (?P<dny>\d{4})"
    r"|(?P<mn2>" + _MONTH_NAMES + r")\.? (?P<dn2>\d{1,2})(?:st|nd|rd|th)?,? (?P<dny2>\d{4})"
    r")(?![\d/.\-]\d)",
    re.IGNORECASE,
)
_DOB_WORDS = (
    "born",
    "birth",
    "dob",
    "d.o.b",
    "geboren",
    "geburt",
    "née",
    "naissance",
    "nacimiento",
    "nascita",
)
_DOB_CONTEXT = re.compile(
    r"\b(?:born|birth|birthday|dob|d\.o\.b|geboren|geburtsdatum|née?|naissance|nacimiento|nascita)\b",
    re.IGNORECASE,
)
_CONTEXT_WINDOW = 40


def _is_birth_date(year: int, month: int, day: int) -> bool:
    today = datetime.date.today()
    try:
        date = datetime.date(year, month, day)
    except ValueError:
        return False
    return today.year - 130 <= year and date <= today


def _date_of(m: re.Match[str]) -> bool:
    g = m.groupdict()
    if g["iso"]:
        return _is_birth_date(int(g["iso"]), int(g["iso_m"]), int(g["iso_d"]))
    if g["a"]:
        year = int(g["y"])
        if len(g["y"]) == 2:
            year += 1900 if year > datetime.date.today().year % 100 else 2000
        a, b = int(g["a"]), int(g["b"])
        return _is_birth_date(year, b, a) or _is_birth_date(year, a, b)  # day-first, then month-first
    if g["mn"]:
        return _is_birth_date(int(g["dny"]), _MONTHS.index(g["mn"][:3].lower()) + 1, int(g["dn"]))
    return _is_birth_date(int(g["dny2"]), _MONTHS.index(g["mn2"][:3].lower()) + 1, int(g["dn2"]))


def find_dates_of_birth(p: Prepared) -> list[Finding]:
    """Dates shortly after a word that says "born": a date alone is not personal data."""
    lower = p.lower
    if not any(word in lower for word in _DOB_WORDS):
        return []
    found = []
    text = p.text
    for context in _DOB_CONTEXT.finditer(text):
        end = min(len(text), context.end() + _CONTEXT_WINDOW + 30)
        m = _DATE.search(text, context.end(), end)
        if m is not None and m.start() - context.end() <= _CONTEXT_WINDOW and _date_of(m):
            found.append(Finding("DATE_OF_BIRTH", m.start(), m.end()))
    return found
