"""National identifiers: each by its written shape, confirmed by its check digits or issuing rules.

Numbers that are only nine or eleven bare digits (a Dutch BSN, an unformatted SSN) look like
anything; they count only with a word that names them nearby ("BSN", "SSN", "CPF").
"""

from __future__ import annotations

import re

from podium.guardrails.pii import checksums
from podium.guardrails.pii.patterns import Prepared
from podium.guardrails.scanner import Finding

__all__ = ["NATIONAL_DETECTORS"]

_CONTEXT_WINDOW = 30


def _near(text: str, start: int, words: re.Pattern[str]) -> bool:
    return words.search(text, max(0, start - _CONTEXT_WINDOW), start) is not None


# --------------------------------------------------------------------------- US SSN

_SSN = re.compile(r"(?<![\d\-])(?<!\d )(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\d\-]| \d)")
_SSN_WORDS = re.compile(r"ssn|social security|soc\.? sec", re.IGNORECASE)


def _ssn_valid(area: str, group: str, serial: str) -> bool:
    # Never issued: area 000, 666 or 900-999, group 00, serial 0000.
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def find_us_ssn(p: Prepared) -> list[Finding]:
    found = []
    for m in p.numeric(_SSN, 9):
        area, sep, group, serial = m.groups()
        if not _ssn_valid(area, group, serial):
            continue
        if sep or _near(p.text, m.start(), _SSN_WORDS):
            found.append(Finding("US_SSN", m.start(), m.end()))
    return found


# --------------------------------------------------------------------------- UK NINO

# First letter not D F I Q U V; second not D F I O Q U V; suffix A-D.
_NINO = re.compile(
    r"(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-D])(?![A-Za-z0-9])"
)
_NINO_NEVER = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def find_uk_nino(p: Prepared) -> list[Finding]:
    return [
        Finding("UK_NINO", m.start(), m.end()) for m in p.numeric(_NINO, 6) if m.group(1) not in _NINO_NEVER
    ]


# --------------------------------------------------------------------------- Canada SIN

_SIN = re.compile(r"(?<![\d\-])(?<!\d )(\d{3})([- ]?)(\d{3})\2(\d{3})(?![\d\-]| \d)")
_SIN_WORDS = re.compile(r"\bsin\b|social insurance|assurance sociale|\bnas\b", re.IGNORECASE)


def find_ca_sin(p: Prepared) -> list[Finding]:
    """SINs written 123-456-782, or grouped otherwise with "SIN" nearby (spaces look like phones)."""
    return [
        Finding("CA_SIN", m.start(), m.end())
        for m in p.numeric(_SIN, 9)
        if (m.group(2) == "-" or _near(p.text, m.start(), _SIN_WORDS))
        and checksums.ca_sin(m[1] + m[3] + m[4])
    ]


# --------------------------------------------------------------------------- Spain DNI / NIE

_DNI = re.compile(r"(?<![A-Za-z0-9])(\d{8})-?([A-Z])(?![A-Za-z0-9])")
_NIE = re.compile(r"(?<![A-Za-z0-9])([XYZ])-?(\d{7})-?([A-Z])(?![A-Za-z0-9])")


def find_es_ids(p: Prepared) -> list[Finding]:
    found = [
        Finding("ES_DNI", m.start(), m.end()) for m in p.numeric(_DNI, 8) if checksums.es_dni(m[1] + m[2])
    ]
    found += [
        Finding("ES_NIE", m.start(), m.end())
        for m in p.numeric(_NIE, 7)
        if checksums.es_nie(m[1] + m[2] + m[3])
    ]
    return found


# --------------------------------------------------------------------------- France NIR

_NIR = re.compile(
    r"(?<![\dA-Za-z])([12378]) ?(\d{2}) ?(\d{2}) ?(\d{2}|2[AB]) ?(\d{3}) ?(\d{3}) ?(\d{2})(?![\dA-Za-z])"
)


def find_fr_nir(p: Prepared) -> list[Finding]:
    return [
        Finding("FR_NIR", m.start(), m.end())
        for m in p.numeric(_NIR, 13)
        if checksums.fr_nir("".join(m.groups()))
    ]


# --------------------------------------------------------------------------- Italy codice fiscale

_CF = re.compile(r"[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z](?![A-Za-z0-9])")


def find_it_fiscal_code(p: Prepared) -> list[Finding]:
    text = p.text
    return [
        Finding("IT_FISCAL_CODE", m.start(), m.end())
        for m in _CF.finditer(text)
        if not (m.start() and text[m.start() - 1].isalnum()) and checksums.it_fiscal_code(m[0])
    ]


# --------------------------------------------------------------------------- Netherlands BSN

_BSN = re.compile(r"(?<![\d\-.])(\d{4})\.?(\d{2})\.?(\d{3})(?![\d\-])|(?<![\d\-.])(\d{9})(?![\d\-])")
_BSN_WORDS = re.compile(r"\bbsn\b|burgerservicenummer|sofinummer", re.IGNORECASE)


def find_nl_bsn(p: Prepared) -> list[Finding]:
    found = []
    for m in p.numeric(_BSN, 9):
        digits = m[4] or (m[1] + m[2] + m[3])
        if _near(p.text, m.start(), _BSN_WORDS) and checksums.nl_bsn(digits):
            found.append(Finding("NL_BSN", m.start(), m.end()))
    return found


# --------------------------------------------------------------------------- India Aadhaar

_AADHAAR = re.compile(r"(?<![\d\-])(?<!\d )([2-9]\d{3})([ \-]?)(\d{4})\2(\d{4})(?![\d\-]| \d)")


def find_in_aadhaar(p: Prepared) -> list[Finding]:
    return [
        Finding("IN_AADHAAR", m.start(), m.end())
        for m in p.numeric(_AADHAAR, 12)
        if checksums.in_aadhaar(m[1] + m[3] + m[4])
    ]


# --------------------------------------------------------------------------- Brazil CPF

_CPF = re.compile(r"(?<![\d.\-])(\d{3})\.(\d{3})\.(\d{3})-(\d{2})(?![\d\-])|(?<![\d.\-])(\d{11})(?![\d\-])")
_CPF_WORDS = re.compile(r"\bcpf\b", re.IGNORECASE)


def find_br_cpf(p: Prepared) -> list[Finding]:
    found = []
    for m in p.numeric(_CPF, 11):
        digits = m[5] or (m[1] + m[2] + m[3] + m[4])
        if (m[5] is None or _near(p.text, m.start(), _CPF_WORDS)) and checksums.br_cpf(digits):
            found.append(Finding("BR_CPF", m.start(), m.end()))
    return found


NATIONAL_DETECTORS = {
    "US_SSN": find_us_ssn,
    "UK_NINO": find_uk_nino,
    "CA_SIN": find_ca_sin,
    "ES_DNI": find_es_ids,  # also finds NIEs; the scanner keeps the kinds it was asked for
    "ES_NIE": find_es_ids,
    "FR_NIR": find_fr_nir,
    "IT_FISCAL_CODE": find_it_fiscal_code,
    "NL_BSN": find_nl_bsn,
    "IN_AADHAAR": find_in_aadhaar,
    "BR_CPF": find_br_cpf,
}
