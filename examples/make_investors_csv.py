"""Write a CSV of investors across every rail country, for ``payout-engine import``.

Deterministic (a fixed seed), so the committed ``investors_1000.csv`` can be made again:

    python -m examples.make_investors_csv --rows 1000 > examples/investors_1000.csv

Every row's account is valid for the rail that pays its country (IBANs with their
check digits from schwifty's bank registry, ABA numbers with their check digit, ...);
a few payees abroad hold a US account (paid by ACH) and a few live where no local rail
runs (paid by international wire).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Iterator
from random import Random

import schwifty
from stdnum.nz import bankaccount as nz_bank_account
from stdnum.us import rtn

from domain.account_fields import clabe_check_digit
from domain.csv_import import ACCOUNT_COLUMNS
from domain.rails import RAILS

HEADER = ["external_id", "name", "kind", "country", "email", "amount", "holder_name"]
FIRST = ["Ana", "Ben", "Chen", "Dara", "Emil", "Farah", "Goro", "Hana", "Ivo", "Jun", "Kofi"]
LAST = ["Silva", "Okafor", "Tanaka", "Novak", "Larsen", "Haddad", "Kumar", "Moreau", "Ito"]
WIRE_COUNTRIES = ("BR", "ZA", "AE", "KR", "TR")
WIRE_BICS = {
    "BR": "BRASBRRJ",
    "ZA": "SBZAZAJJ",
    "AE": "NBADAEAA",
    "KR": "KOEXKRSE",
    "TR": "TCZBTR2A",
}

Fields = dict[str, str]


def digits(rng: Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def aba(rng: Random) -> str:
    first8 = "0" + str(rng.randint(1, 2)) + digits(rng, 6)
    return first8 + rtn.calc_check_digit(first8)


def ach(rng: Random) -> Fields:
    kind = rng.choice(["checking", "savings"])
    return {"aba_routing": aba(rng), "account_number": digits(rng, 10), "account_type": kind}


def iban(country: str) -> Callable[[Random], Fields]:
    return lambda rng: {"iban": str(schwifty.IBAN.random(country, random=rng))}


def nz(rng: Random) -> Fields:
    while True:
        number = f"01-0902-{digits(rng, 7)}-00"
        if nz_bank_account.is_valid(number):
            return {"account_number": number}


def clabe(rng: Random) -> Fields:
    first17 = "002180" + digits(rng, 11)
    return {"clabe": first17 + str(clabe_check_digit(first17))}


LOCAL: dict[str, Callable[[Random], Fields]] = {
    "US": ach,
    "GB": lambda r: {"sort_code": digits(r, 6), "account_number": digits(r, 8)},
    "CA": lambda r: {
        "institution_number": digits(r, 3),
        "transit_number": digits(r, 5),
        "account_number": digits(r, 9),
    },
    "JP": lambda r: {
        "bank_code": digits(r, 4),
        "branch_code": digits(r, 3),
        "account_number": digits(r, 7),
        "account_type": "ordinary",
    },
    "AU": lambda r: {"bsb": digits(r, 6), "account_number": digits(r, 9)},
    "SG": lambda r: {"bank_code": digits(r, 4), "account_number": digits(r, 10)},
    "IN": lambda r: {"ifsc": "HDFC0" + digits(r, 6), "account_number": digits(r, 14)},
    "HK": lambda r: {
        "bank_code": digits(r, 3),
        "branch_code": digits(r, 3),
        "account_number": digits(r, 9),
    },
    "NZ": nz,
    "MX": clabe,
    "ID": lambda r: {"bank_code": digits(r, 3), "account_number": digits(r, 10)},
}


def account_for(country: str, rng: Random) -> Fields:
    if country in WIRE_BICS:
        return {"bic": WIRE_BICS[country], "account_number": digits(rng, 12)}
    return LOCAL.get(country, iban(country))(rng)


def countries() -> list[str]:
    return sorted({c for rail in RAILS for c in rail.countries}) + list(WIRE_COUNTRIES)


def rows(count: int, seed: int = 2026) -> Iterator[list[str]]:
    rng = Random(seed)
    places = countries()
    for i in range(count):
        country = places[i % len(places)]
        # every 50th payee abroad keeps a US account: routing rule 1 pays it by ACH
        fields = ach(rng) if i % 50 == 49 and country != "US" else account_for(country, rng)
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        amount = f"{rng.randint(100, 250_000)}.{rng.randint(0, 99):02d}"
        email = f"investor{i + 1:05d}@example.com"
        yield [f"INV-{i + 1:05d}", name, "investor", country, email, amount, name] + [
            fields.get(column, "") for column in ACCOUNT_COLUMNS
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(HEADER + list(ACCOUNT_COLUMNS))
    writer.writerows(rows(args.rows, args.seed))


if __name__ == "__main__":
    main()
