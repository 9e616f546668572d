"""The people to invite: a spreadsheet export (CSV) → validated rows, problems by row number.

Headers are matched case-insensitively and loosely (`Email`, `E-mail address`, `Full name`,
`First Name`…). Files saved by Excel are expected: a UTF-8 byte-order mark, Windows-1252
text, `;` as the separator in locales that use a decimal comma. Rows are numbered as the
spreadsheet shows them (the header is row 1), so a problem can be found and fixed there.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

__all__ = ["Person", "RowProblem", "People", "read_people", "normalise_email"]

# Smile's InvitePostRequest limits.
MAX_FULL_NAME = 200
MAX_EMAIL = 200
MAX_PART_NAME = 64

_HEADERS = {
    "email": ("email", "emailaddress", "mail", "e_mail"),
    "full_name": ("fullname", "name", "applicantname", "applicant", "contactname"),
    "first_name": ("firstname", "givenname", "forename", "first"),
    "last_name": ("lastname", "surname", "familyname", "last"),
}


@dataclass(frozen=True)
class Person:
    """One valid row: what ``POST /invites`` needs, and where it came from."""

    row: int
    email: str
    full_name: str
    first_name: str | None = None
    last_name: str | None = None

    @property
    def key(self) -> str:
        """The email as the ledger keys it (case-insensitive, as mail systems treat it)."""
        return normalise_email(self.email)


@dataclass(frozen=True)
class RowProblem:
    row: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


@dataclass
class People:
    people: list[Person]
    problems: list[RowProblem]


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.strip().lower())


def _columns(header: list[str], file: str) -> dict[str, int]:
    aliases = {alias.replace("_", ""): field for field, names in _HEADERS.items() for alias in names}
    columns: dict[str, int] = {}
    for index, title in enumerate(header):
        field = aliases.get(_header_key(title))
        if field is not None and field not in columns:
            columns[field] = index
    if "email" not in columns:
        shown = ", ".join(f"`{h}`" for h in header if h.strip()) or "nothing"
        raise UserError(f"{file}: no `email` column in the header row (found {shown})")
    if "full_name" not in columns and not {"first_name", "last_name"} <= set(columns):
        raise UserError(f"{file}: no `full_name` column (or `first_name` and `last_name`) in the header row")
    return columns


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel's "CSV (Comma delimited)" on Windows writes the ANSI code page.
        return raw.decode("cp1252", errors="replace")


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    first = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(first, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _email_problem(email: str) -> str | None:
    from email_validator import EmailNotValidError, validate_email

    if not email:
        return "no email address"
    if len(email) > MAX_EMAIL:
        return f"the email address is longer than {MAX_EMAIL} characters"
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        return f"`{email}` is not a valid email address ({exc})"
    return None


def _person(row: int, cells: list[str], columns: dict[str, int]) -> Person | RowProblem:
    def cell(name: str) -> str:
        index = columns.get(name)
        return " ".join(cells[index].split()) if index is not None and index < len(cells) else ""

    email, first, last = cell("email"), cell("first_name"), cell("last_name")
    full = cell("full_name") or " ".join(p for p in (first, last) if p)
    problems = []
    email_problem = _email_problem(email)
    if email_problem:
        problems.append(email_problem)
    if not full:
        problems.append("no name (fill `full_name`, or `first_name` and `last_name`)")
    elif len(full) > MAX_FULL_NAME:
        problems.append(f"the full name is longer than {MAX_FULL_NAME} characters")
    for label, value in (("first name", first), ("last name", last)):
        if len(value) > MAX_PART_NAME:
            problems.append(f"the {label} is longer than {MAX_PART_NAME} characters")
    if problems:
        return RowProblem(row, "; ".join(problems))
    return Person(row, email, full, first or None, last or None)


def read_people(path: Path) -> People:
    """Every row of the CSV at ``path``: the valid people, and each bad row with its number.

    Blank rows are ignored; a second row for an email already seen is a problem (one invite
    per person and site). Raises :class:`UserError` only when the file itself is unusable.
    """
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror or exc}") from None
    text = _decode(raw)
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    try:
        header = next(reader, None)
        if header is None:
            raise UserError(f"{file} is empty: it needs a header row with `email` and `full_name`")
        columns = _columns(header, file)
        result = People([], [])
        seen: dict[str, int] = {}
        for index, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            outcome = _person(index, cells, columns)
            if isinstance(outcome, RowProblem):
                result.problems.append(outcome)
            elif outcome.key in seen:
                result.problems.append(RowProblem(index, f"{outcome.email} is already on row {seen[outcome.key]}"))
            else:
                seen[outcome.key] = index
                result.people.append(outcome)
    except csv.Error as exc:
        raise UserError(f"{file} is not readable as CSV: {exc}") from None
    return result
