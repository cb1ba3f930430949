"""Check-digit rules: what turns "a run of digits" into "a card number", "an IBAN", "a tax id".

Each function takes the identifier with its separators already removed and answers whether its
check digits hold. Pure functions on short strings; the detectors call them only on candidates that
already have the right shape.
"""

from __future__ import annotations

__all__ = [
    "IBAN_LENGTHS",
    "br_cpf",
    "ca_sin",
    "es_dni",
    "es_nie",
    "fr_nir",
    "iban",
    "in_aadhaar",
    "it_fiscal_code",
    "luhn",
    "nl_bsn",
]


def luhn(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment cards and Canadian SINs."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# ISO 13616 lengths per country (the SWIFT IBAN registry), including the partner territories.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban(code: str) -> bool:
    """An IBAN (upper-case, no spaces): its country's length, then ISO 7064 mod 97-10 equal to 1."""
    if IBAN_LENGTHS.get(code[:2]) != len(code):
        return False
    rearranged = code[4:] + code[:4]
    # Letters count as 10..35; reducing chunk by chunk keeps the integers small.
    remainder = 0
    for ch in rearranged:
        if "0" <= ch <= "9":
            remainder = (remainder * 10 + ord(ch) - 48) % 97
        elif "A" <= ch <= "Z":
            remainder = (remainder * 100 + ord(ch) - 55) % 97
        else:
            return False
    return remainder == 1


def ca_sin(digits: str) -> bool:
    """A Canadian Social Insurance Number: nine digits, Luhn, never starting with 0 or 8."""
    return len(digits) == 9 and digits[0] not in "08" and luhn(digits)


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_dni(code: str) -> bool:
    """A Spanish DNI: eight digits and the letter at (number mod 23)."""
    return len(code) == 9 and code[:8].isdigit() and _DNI_LETTERS[int(code[:8]) % 23] == code[8]


def es_nie(code: str) -> bool:
    """A Spanish NIE: X, Y or Z (read as 0, 1, 2), seven digits, and the DNI letter of that number."""
    if len(code) != 9 or code[0] not in "XYZ" or not code[1:8].isdigit():
        return False
    return _DNI_LETTERS[int(str("XYZ".index(code[0])) + code[1:8]) % 23] == code[8]


def fr_nir(code: str) -> bool:
    """A French social security number (NIR): 13 characters and a key of 97 - (number mod 97).

    Corsica's departments 2A and 2B count as 19 and 18 for the key.
    """
    if len(code) != 15 or not code[13:].isdigit() or code[0] not in "12378":
        return False
    body = code[:13]
    if body[5:7] == "2A":
        body = body[:5] + "19" + body[7:]
    elif body[5:7] == "2B":
        body = body[:5] + "18" + body[7:]
    if not body.isdigit():
        return False
    return 97 - int(body) % 97 == int(code[13:])


_CF_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]


def it_fiscal_code(code: str) -> bool:
    """An Italian codice fiscale: 15 characters and a check letter from odd/even position tables."""
    if len(code) != 16 or not code.isalnum() or not code.isupper():
        return False
    total = 0
    for i, ch in enumerate(code[:15]):
        value = ord(ch) - 48 if ch.isdigit() else ord(ch) - 65
        total += _CF_ODD[value] if i % 2 == 0 else value
    return chr(65 + total % 26) == code[15]


def nl_bsn(digits: str) -> bool:
    """A Dutch citizen service number (BSN): nine digits passing the "elfproef" (weights 9..2, -1)."""
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return total % 11 == 0


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff(digits: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


def in_aadhaar(digits: str) -> bool:
    """An Indian Aadhaar number: twelve digits, not starting with 0 or 1, Verhoeff check digit."""
    return len(digits) == 12 and digits.isdigit() and digits[0] not in "01" and verhoeff(digits)


def br_cpf(digits: str) -> bool:
    """A Brazilian CPF: nine digits and two mod-11 check digits; eleven equal digits are invalid."""
    if len(digits) != 11 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    for n in (9, 10):
        total = sum(int(digits[i]) * (n + 1 - i) for i in range(n))
        check = total * 10 % 11 % 10
        if check != int(digits[n]):
            return False
    return True
