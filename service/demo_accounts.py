"""Valid-looking, checksum-correct bank details for demo payees.

The same (country, seed) always gives the same details. For the rails below,
bank, branch and routing codes are real public identifiers of well-known banks;
account numbers are random. Any other rail gets details made from the formats
of its account fields (``Rail.account_fields``), so a new rail needs nothing
here. Countries without a local rail get international wire details.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.nz import bankaccount as nz_bank_account

from domain.account_fields import (
    AbaRouting,
    Bic,
    Clabe,
    Digits,
    FieldFormat,
    Iban,
    Ifsc,
    NzAccountNumber,
    OneOf,
    WireAccountNumber,
    clabe_check_digit,
    iban_problem,
)
from domain.rails import ACH, INTERNATIONAL_WIRE, Rail, rail_for_country

Details = dict[str, str]

_ABA_ROUTING = ("021000021", "026009593", "121000248", "011000138", "071000013")
_SWIFT_BICS = ("CHASUS33", "BOFAUS3N", "HSBCHKHH", "DEUTDEFF", "BARCGB22", "CITIUS33")
_CA_INSTITUTIONS = ("001", "002", "003", "004", "006", "010")  # BMO, BNS, RBC, TD, NBC, CIBC
_JP_BANKS = ("0001", "0005", "0009", "0010")  # Mizuho, MUFG, SMBC, Resona
_AU_BSBS = ("062000", "033000", "082001", "012003")  # CBA, Westpac, NAB, ANZ
_SG_BANKS = ("7171", "7339", "7375")  # DBS, OCBC, UOB
_IFSC = ("HDFC0000123", "SBIN0001234", "ICIC0000456", "UTIB0000789")
_HK_BANKS = ("004", "012", "024")  # HSBC, Bank of China (HK), Hang Seng
_MX_BANKS = ("002", "012", "014", "072")  # Banamex, BBVA, Santander, Banorte
_ID_BANKS = ("014", "008", "002", "009")  # BCA, Mandiri, BRI, BNI
_NZ_BANK_BRANCHES = ("01-0902", "02-0500", "12-3140", "06-0101")  # ANZ, BNZ, ASB, ANZ (National)


def _digits(rng: Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _numeric_account(iban: IBAN, rng: Random) -> IBAN:
    """The same bank with an all-digit account code, as most real accounts have."""
    digits = "".join(ch if ch.isdigit() else rng.choice("0123456789") for ch in iban.account_code)
    try:
        candidate = IBAN.generate(
            iban.country_code,
            bank_code=iban.bank_code,
            branch_code=iban.branch_code,
            account_code=digits,
        )
    except SchwiftyException:
        return iban
    return iban if iban_problem(str(candidate)) else candidate


def _random_iban(country: str, rng: Random) -> IBAN:
    return _numeric_account(IBAN.random(country, random=rng), rng)


def _iban(country: str, rng: Random) -> Details:
    iban = _random_iban(country, rng)
    details = {"iban": str(iban)}
    if iban.bic is not None:
        details["bic"] = str(iban.bic)
    return details


def _us(rng: Random) -> Details:
    return {
        "aba_routing": rng.choice(_ABA_ROUTING),
        "account_number": _digits(rng, 10),
        "account_type": rng.choice(_choices(ACH, "account_type")),
    }


def _gb(rng: Random) -> Details:
    return {"sort_code": _digits(rng, 6), "account_number": _digits(rng, 8)}


def _ca(rng: Random) -> Details:
    return {
        "institution_number": rng.choice(_CA_INSTITUTIONS),
        "transit_number": _digits(rng, 5),
        "account_number": _digits(rng, 7),
    }


def _jp(rng: Random) -> Details:
    return {
        "bank_code": rng.choice(_JP_BANKS),
        "branch_code": _digits(rng, 3),
        "account_number": _digits(rng, 7),
        "account_type": "ordinary",
    }


def _au(rng: Random) -> Details:
    return {"bsb": rng.choice(_AU_BSBS), "account_number": _digits(rng, 9)}


def _sg(rng: Random) -> Details:
    return {"bank_code": rng.choice(_SG_BANKS), "account_number": _digits(rng, 10)}


def _in(rng: Random) -> Details:
    return {"ifsc": rng.choice(_IFSC), "account_number": _digits(rng, 12)}


def _hk(rng: Random) -> Details:
    return {
        "bank_code": rng.choice(_HK_BANKS),
        "branch_code": _digits(rng, 3),
        "account_number": _digits(rng, 9),
    }


def _nz_account_number(rng: Random) -> str:
    prefix = rng.choice(_NZ_BANK_BRANCHES)
    start = rng.randrange(10**7)
    for offset in range(10**7):  # roughly one base number in eleven has a valid check digit
        number = f"{prefix}-{(start + offset) % 10**7:07d}-000"
        if nz_bank_account.is_valid(number):
            return nz_bank_account.compact(number)
    raise RuntimeError(f"no valid account number for branch {prefix}")


def _nz(rng: Random) -> Details:
    return {"account_number": _nz_account_number(rng)}


def _clabe(rng: Random) -> str:
    body = rng.choice(_MX_BANKS) + _digits(rng, 14)
    return body + str(clabe_check_digit(body))


def _mx(rng: Random) -> Details:
    return {"clabe": _clabe(rng)}


def _id(rng: Random) -> Details:
    return {"bank_code": rng.choice(_ID_BANKS), "account_number": _digits(rng, 10)}


def _wire(rng: Random) -> Details:
    return {"swift_bic": rng.choice(_SWIFT_BICS), "account_number": _digits(rng, 12)}


# Real bank and branch codes for the rails a demo shows most; the rest are made from formats.
_BY_RAIL: dict[str, Callable[[Random], Details]] = {
    "ACH": _us,
    "BACS": _gb,
    "EFT": _ca,
    "ZENGIN": _jp,
    "BECS_AU": _au,
    "GIRO": _sg,
    "NEFT": _in,
    "CHATS": _hk,
    "BECS_NZ": _nz,
    "SPEI": _mx,
    "SKNBI": _id,
    "WIRE": _wire,
}


def _choices(rail: Rail, name: str) -> list[str]:
    (field,) = [f for f in rail.account_fields if f.name == name]
    assert isinstance(field.format, OneOf)
    return sorted(field.format.choices)


def _sample_value(fmt: FieldFormat, country: str, rng: Random) -> str:
    match fmt:
        case Digits():
            return _digits(rng, fmt.longest)
        case OneOf(choices=choices):
            return rng.choice(sorted(choices))
        case Iban():
            return str(_random_iban(country, rng))
        case Bic():
            return rng.choice(_SWIFT_BICS)
        case AbaRouting():
            return rng.choice(_ABA_ROUTING)
        case Ifsc():
            return rng.choice(_IFSC)
        case Clabe():
            return _clabe(rng)
        case NzAccountNumber():
            return _nz_account_number(rng)
        case WireAccountNumber():
            return _digits(rng, 12)
    raise ValueError(f"no sample values for the format {fmt!r}")


def details_from_formats(rail: Rail, country: str, rng: Random) -> Details:
    """Details made from what the rail's account fields must look like."""
    return {f.name: _sample_value(f.format, country, rng) for f in rail.account_fields}


def sample_account_details(country: str, seed: int) -> dict[str, str]:
    """Details that pass validation for the rail serving ``country`` (the wire if none)."""
    rng = Random(f"{country}:{seed}")
    rail = rail_for_country(country) or INTERNATIONAL_WIRE
    if "iban" in rail.required_fields:
        return _iban(country.upper(), rng)
    known = _BY_RAIL.get(rail.code)
    return known(rng) if known else details_from_formats(rail, country.upper(), rng)
