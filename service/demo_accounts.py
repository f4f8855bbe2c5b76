"""Valid-looking, checksum-correct bank details for demo payees.

The same (country, seed) always gives the same details. Bank, branch and
routing codes are real public identifiers of well-known banks; account numbers
are random. Countries without a local rail get international wire details.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.nz import bankaccount as nz_bank_account

from domain.bank_details import ACCOUNT_TYPES, clabe_check_digit, iban_problem
from domain.rails import INTERNATIONAL_WIRE, rail_for_country

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


def _iban(country: str, rng: Random) -> Details:
    iban = _numeric_account(IBAN.random(country, random=rng), rng)
    details = {"iban": str(iban)}
    if iban.bic is not None:
        details["bic"] = str(iban.bic)
    return details


def _us(rng: Random) -> Details:
    return {
        "aba_routing": rng.choice(_ABA_ROUTING),
        "account_number": _digits(rng, 10),
        "account_type": rng.choice(sorted(ACCOUNT_TYPES["ACH"])),
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


def _nz(rng: Random) -> Details:
    prefix = rng.choice(_NZ_BANK_BRANCHES)
    start = rng.randrange(10**7)
    for offset in range(10**7):  # roughly one base number in eleven has a valid check digit
        number = f"{prefix}-{(start + offset) % 10**7:07d}-000"
        if nz_bank_account.is_valid(number):
            return {"account_number": nz_bank_account.compact(number)}
    raise RuntimeError(f"no valid account number for branch {prefix}")


def _mx(rng: Random) -> Details:
    body = rng.choice(_MX_BANKS) + _digits(rng, 14)
    return {"clabe": body + str(clabe_check_digit(body))}


def _id(rng: Random) -> Details:
    return {"bank_code": rng.choice(_ID_BANKS), "account_number": _digits(rng, 10)}


def _wire(rng: Random) -> Details:
    return {"swift_bic": rng.choice(_SWIFT_BICS), "account_number": _digits(rng, 12)}


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
}


def sample_account_details(country: str, seed: int) -> dict[str, str]:
    """Details that pass validation for the rail serving ``country`` (the wire if none)."""
    rng = Random(f"{country}:{seed}")
    rail = rail_for_country(country) or INTERNATIONAL_WIRE
    if "iban" in rail.required_fields:
        return _iban(country.upper(), rng)
    return _BY_RAIL.get(rail.code, _wire)(rng)
