from dataclasses import replace

import pytest

from domain.account_fields import digits, one_of
from domain.bank_details import (
    FIELD_RULES,
    BankAccount,
    details_verdict,
    valid_for,
    validate_account,
)
from domain.rails import INTERNATIONAL_WIRE, RAILS, Rail, rail_by_code

# The IBAN registry's own example IBANs: real check digits, national check digits included.
REGISTRY_IBANS = {
    "DE": "DE89370400440532013000",
    "FR": "FR1420041010050500013M02606",
    "ES": "ES9121000418450200051332",
    "NL": "NL91ABNA0417164300",
    "IT": "IT60X0542811101000000123456",
    "AT": "AT611904300234573201",
    "BE": "BE68539007547034",
    "IE": "IE29AIBK93115212345678",
    "PT": "PT50000201231234567890154",
    "FI": "FI2112345600000785",
    "GR": "GR1601101250000000012300695",
    "LU": "LU280019400644750000",
    "CY": "CY17002001280000001200527600",
    "MT": "MT84MALT011000012345MTLCAST001S",
    "SK": "SK3112000000198742637541",
    "LT": "LT121000011101001000",
    "SI": "SI56263300012039086",
    "EE": "EE382200221020145685",
    "LV": "LV80BANK0000435195001",
    "CH": "CH9300762011623852957",
    "PL": "PL61109010140000071219812874",
    "HU": "HU42117730161111101800000000",
    "RO": "RO49AAAA1B31007593840000",
    "DK": "DK5000400440116243",
    "NO": "NO9386011117947",
    "SE": "SE4550000000058398257466",
    "IL": "IL620108000000099999999",
}

VALID_DETAILS = {
    "ACH": {"aba_routing": "021000021", "account_number": "123456789", "account_type": "checking"},
    "BACS": {"sort_code": "200000", "account_number": "55779911"},
    "EFT": {"institution_number": "003", "transit_number": "00012", "account_number": "1234567"},
    "ZENGIN": {
        "bank_code": "0001",
        "branch_code": "001",
        "account_number": "1234567",
        "account_type": "ordinary",
    },
    "BECS_AU": {"bsb": "062000", "account_number": "123456789"},
    "GIRO": {"bank_code": "7171", "account_number": "1234567890"},
    "NEFT": {"ifsc": "HDFC0000123", "account_number": "50100012345678"},
    "CHATS": {"bank_code": "004", "branch_code": "123", "account_number": "123456789"},
    "BECS_NZ": {"account_number": "01-0242-0100194-00"},
    "SPEI": {"clabe": "032180000118359719"},
    "SKNBI": {"bank_code": "014", "account_number": "1234567890"},
    "WIRE": {"swift_bic": "DEUTDEFF", "account_number": "123456789012"},
}


def account(rail: Rail, details: dict[str, str], **overrides: str | None) -> BankAccount:
    country = rail.countries[0] if rail.countries else None
    fields = {"country": country, "currency": rail.currency} | overrides
    return BankAccount(id="ba_1", holder_name="Ada Lovelace", details=details, **fields)


def valid_details(rail: Rail, country: str) -> dict[str, str]:
    if rail.required_fields == ("iban",):
        return {"iban": REGISTRY_IBANS[country]}
    return VALID_DETAILS[rail.code]


def problems(code: str, details: dict[str, str], **overrides: str | None) -> list[str]:
    rail = rail_by_code(code)
    return validate_account(rail, account(rail, details, **overrides))


@pytest.mark.parametrize(
    ("rail", "country"),
    [(rail, country) for rail in RAILS for country in rail.countries or ("AE",)],
    ids=lambda value: value if isinstance(value, str) else value.code,
)
def test_a_valid_account_passes_on_every_rail_and_country(rail: Rail, country: str) -> None:
    holder = account(rail, valid_details(rail, country), country=country)
    assert validate_account(rail, holder) == []


def test_every_iban_rail_has_registry_examples_for_its_countries() -> None:
    iban_countries = {c for r in RAILS if "iban" in r.required_fields for c in r.countries}
    assert iban_countries == set(REGISTRY_IBANS)


class TestMissingFields:
    def test_a_missing_field_is_named(self) -> None:
        assert problems("SEPA", {}, country="DE") == [
            "missing iban, which SEPA Credit Transfer requires"
        ]

    def test_blank_counts_as_missing(self) -> None:
        found = problems("BACS", {"sort_code": "  ", "account_number": "55779911"})
        assert found == ["missing sort_code, which Bacs Direct Credit requires"]

    def test_all_problems_are_reported_together(self) -> None:
        found = problems("ZENGIN", {"bank_code": "1", "account_type": "checking"})
        assert found == [
            "bank_code must be 4 digits",
            "missing branch_code, which Japanese Zengin requires",
            "missing account_number, which Japanese Zengin requires",
            "account_type must be one of current, ordinary, savings",
        ]


class TestIban:
    @pytest.mark.parametrize(
        ("iban", "problem"),
        [
            ("DE89370400440532013001", "iban has invalid check digits"),
            ("DE8937040044053201300", "iban has the wrong length for its country"),
            ("XX89370400440532013000", "iban starts with an unknown country code"),
            ("not an iban", "iban is malformed"),
            # BE68539007547034 with the national mod-97 key broken and the IBAN digits redone
            ("BE41539007547035", "iban has an invalid national check digit"),
        ],
    )
    def test_invalid_ibans(self, iban: str, problem: str) -> None:
        assert problems("SEPA", {"iban": iban}, country="DE") == [problem]

    def test_spaces_as_printed_on_statements_are_fine(self) -> None:
        assert problems("SEPA", {"iban": "DE89 3704 0044 0532 0130 00"}, country="DE") == []

    def test_the_iban_must_be_from_a_country_the_rail_serves(self) -> None:
        found = problems("SEPA", {"iban": REGISTRY_IBANS["CH"]}, country=None)
        assert found == ["iban is from CH, which SEPA Credit Transfer does not serve"]
        found = problems("SIC", {"iban": REGISTRY_IBANS["DE"]})
        assert found == ["iban is from DE, which Swiss Interbank Clearing (SIC) does not serve"]

    def test_an_optional_bic_is_checked_when_present(self) -> None:
        details = {"iban": REGISTRY_IBANS["DE"]}
        assert problems("SEPA", details | {"bic": "DEUTDEFF"}, country="DE") == []
        found = problems("SEPA", details | {"bic": "DEUTXXFF"}, country="DE")
        assert found == ["bic is not a valid BIC"]


@pytest.mark.parametrize(
    ("code", "field", "value", "problem"),
    [
        ("ACH", "aba_routing", "123456789", "aba_routing is not a valid ABA number"),
        ("ACH", "aba_routing", "02100002", "aba_routing is not a valid ABA number"),
        ("ACH", "account_number", "12-34", "account_number must be 4 to 17 digits"),
        ("ACH", "account_type", "brokerage", "account_type must be one of checking, savings"),
        ("BACS", "sort_code", "20-00-00", "sort_code must be 6 digits"),
        ("BACS", "account_number", "5577991", "account_number must be 8 digits"),
        ("EFT", "institution_number", "0003", "institution_number must be 3 digits"),
        ("EFT", "transit_number", "0012", "transit_number must be 5 digits"),
        ("ZENGIN", "bank_code", "001", "bank_code must be 4 digits"),
        ("ZENGIN", "branch_code", "0001", "branch_code must be 3 digits"),
        ("ZENGIN", "account_number", "12345678", "account_number must be 7 digits"),
        ("BECS_AU", "bsb", "06200", "bsb must be 6 digits"),
        ("NEFT", "ifsc", "hdfc0000123", "ifsc must look like HDFC0001234"),
        ("NEFT", "ifsc", "HDFC1000123", "ifsc must look like HDFC0001234"),
        ("CHATS", "bank_code", "4", "bank_code must be 3 digits"),
        (
            "BECS_NZ",
            "account_number",
            "01-0242-0100195-00",
            "account_number is not a valid New Zealand account number",
        ),
        ("SPEI", "clabe", "032180000118359718", "clabe has an invalid check digit"),
        ("SPEI", "clabe", "03218000011835971", "clabe must be 18 digits"),
        ("SKNBI", "bank_code", "14", "bank_code must be 3 digits"),
        ("WIRE", "swift_bic", "DEUT", "swift_bic is not a valid BIC"),
        ("WIRE", "account_number", "12-34", "account_number must be 1 to 34 letters or digits"),
    ],
)
def test_invalid_field_values(code: str, field: str, value: str, problem: str) -> None:
    details = VALID_DETAILS[code] | {field: value}
    assert problems(code, details) == [problem]


def test_a_rails_entry_alone_says_what_its_fields_must_look_like() -> None:
    fields = (digits("bank_code", 3), digits("account_number", 10, 14), one_of("kind", "a", "b"))
    rail = replace(rail_by_code("GIRO"), code="KFTC", name="Korean KFTC", account_fields=fields)
    details = {"bank_code": "0040", "account_number": "123456789", "kind": "c"}
    assert validate_account(rail, account(rail, details)) == [
        "bank_code must be 3 digits",
        "account_number must be 10 to 14 digits",
        "kind must be one of a, b",
    ]


def test_non_ascii_digits_are_not_digits() -> None:
    found = problems(
        "BACS", VALID_DETAILS["BACS"] | {"sort_code": "\u0662\u0660\u0660\u0660\u0660\u0660"}
    )
    assert found == ["sort_code must be 6 digits"]


def test_a_wire_account_may_be_an_iban() -> None:
    details = {"swift_bic": "DEUTDEFF", "account_number": REGISTRY_IBANS["DE"]}
    assert validate_account(INTERNATIONAL_WIRE, account(INTERNATIONAL_WIRE, details)) == []


def test_a_domestic_rail_pays_only_accounts_in_its_country_and_currency() -> None:
    found = problems("BACS", VALID_DETAILS["BACS"], country="IE", currency="EUR")
    assert found == [
        "account is held in IE, which Bacs Direct Credit does not serve",
        "account is in EUR, but Bacs Direct Credit pays GBP",
    ]


def test_the_wire_pays_accounts_anywhere_in_any_currency() -> None:
    holder = account(INTERNATIONAL_WIRE, VALID_DETAILS["WIRE"], country="AE", currency="AED")
    assert validate_account(INTERNATIONAL_WIRE, holder) == []


def test_problems_never_echo_the_account_number() -> None:
    secret = "DE89370400440532013001"
    assert all(secret not in problem for problem in problems("SEPA", {"iban": secret}))


@pytest.mark.parametrize(
    ("details", "expected"),
    [({"aba_routing": "021000021"}, True), ({"aba_routing": " "}, False), ({}, False)],
)
def test_has_us_routing(details: dict[str, str], expected: bool) -> None:
    assert account(rail_by_code("ACH"), details).has_us_routing is expected


# -- the verdict stored when an account is added --------------------------------------


def test_a_verdict_lists_the_rails_whose_field_checks_the_details_pass() -> None:
    sepa = rail_by_code("SEPA")
    details = {"iban": REGISTRY_IBANS["DE"], "bic": "COBADEFFXXX"}
    verdict = details_verdict("Ada", "DE", "EUR", details)
    assert sepa.code in verdict["rails"]
    account = BankAccount("1", "Ada", "DE", "EUR", details)
    assert validate_account(sepa, replace(account, fields_valid_for=valid_for(verdict))) == []


def test_details_that_fail_a_check_are_not_vouched_for_and_are_still_refused() -> None:
    sepa = rail_by_code("SEPA")
    broken = {"iban": "DE00370400440532013000"}  # wrong check digits
    verdict = details_verdict("Ada", "DE", "EUR", broken)
    assert sepa.code not in verdict["rails"]
    account = BankAccount("1", "Ada", "DE", "EUR", broken, fields_valid_for=valid_for(verdict))
    assert validate_account(sepa, account)


@pytest.mark.parametrize("stored", [None, {}, {"rules": FIELD_RULES - 1, "rails": ["SEPA"]}])
def test_an_account_without_a_current_verdict_is_checked_as_before(
    stored: dict[str, object] | None,
) -> None:
    """Accounts added before verdicts were stored, or under older rules, vouch for
    nothing: the run checks their details as it always did."""
    assert valid_for(stored) == frozenset()
    broken = BankAccount("1", "Ada", "DE", "EUR", {"iban": "DE00370400440532013000"})
    assert validate_account(
        rail_by_code("SEPA"), replace(broken, fields_valid_for=valid_for(stored))
    )


def test_a_verdict_does_not_vouch_for_where_the_account_is_held() -> None:
    """The placement checks (country, currency) are made on every run: cheap, and they
    depend on the rail the run picks."""
    details = {"iban": REGISTRY_IBANS["DE"]}
    verdict = details_verdict("Ada", "DE", "USD", details)
    account = BankAccount("1", "Ada", "DE", "USD", details, fields_valid_for=valid_for(verdict))
    assert any("USD" in p for p in validate_account(rail_by_code("SEPA"), account))
