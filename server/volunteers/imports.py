"""Reading volunteer lists from the spreadsheets communities keep (CSV or XLSX).

Every row is checked and every problem reported with its file, line and field; an import runs
only when no row has a problem, so a file is never imported half-way. Headers may be English,
the Chinese a community's own sheet uses (姓名, 手机号, 技能 ...), or those of the national
volunteer platform's roster export (序号, 姓名, 性别, 手机号码, 出生日期, 技能特长, 所属队伍,
志愿者编号 ...). Columns Linli does not keep (序号, 证件号码, 政治面貌 ...) are reported as
ignored, never read. A team named loosely (小蜜蜂 for 小蜜蜂维修队) is matched to the one team it
can mean, and the match is shown for confirmation before anything is imported.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from flask_babel import gettext

from server.errors import InvalidInput

MAX_ROWS = 20000
MAX_XLSX_MB = 50
"""What a workbook may unpack to; the archive's declared sizes are checked before it is read
(a 20,000-row list unpacks to a few MB; a crafted 60 KB sheet can unpack to gigabytes)."""
MAX_COLUMNS = 64
"""Columns read per row (a sheet may declare 16,384; a volunteer list has about ten)."""
HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("name", "姓名"),
    "phone": ("phone", "电话", "手机", "手机号", "手机号码", "联系电话", "联系方式"),
    "gender": ("gender", "性别"),
    "birth_year": ("birth_year", "出生年份"),
    "birth_date": ("birth_date", "出生日期"),
    "registration_no": ("registration_no", "志愿者编号", "志愿者编码"),
    "skills": ("skills", "技能", "特长", "技能特长", "专业特长"),
    "availability": ("availability", "可服务时间", "服务时间"),
    "team": ("team", "队伍", "服务队", "所属队伍", "所属团队", "所属组织"),
    "active": ("active", "在册", "状态"),
    "joined": ("joined", "加入日期", "注册日期", "注册时间"),
}
"""Each field and the column titles that name it (the national platform's export included)."""
TEAM_SUFFIXES = (
    "志愿者服务队",
    "志愿服务队",
    "志愿者队",
    "志愿队",
    "服务队",
    "维修队",
    "团队",
    "队",
)
"""Endings a sheet may leave off or add to a team's name (小蜜蜂 / 小蜜蜂维修队)."""
DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$")
COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
REQUIRED = ("name", "phone")
PHONE = re.compile(r"^\+?[0-9]{5,20}$")
SKILL_SPLIT = re.compile(r"[,，、;；/]")
YES = {"", "yes", "y", "1", "true", "是", "在册", "active"}
NO = {"no", "n", "0", "false", "否", "离册", "inactive"}
GENDER = {"": "", "女": "female", "female": "female", "f": "female", "男": "male", "male": "male"}


@dataclass(frozen=True)
class ImportRow:
    """One valid row of a volunteer list."""

    line: int
    name: str
    phone: str
    gender: str = ""
    birth_year: int | None = None
    registration_no: str | None = None
    skills: tuple[str, ...] = ()
    availability: str = ""
    team: str | None = None
    is_active: bool = True
    joined_on: date | None = None


@dataclass(frozen=True)
class RowError:
    """A problem in one field of one line."""

    line: int
    field: str
    message: str

    def describe(self, filename: str) -> str:
        """`file:line: field: message`."""
        return f"{filename}:{self.line}: {self.field}: {self.message}"


@dataclass
class Parsed:
    """A read file: its valid rows, every problem found, the columns left unread, and the
    teams named loosely with the team each was matched to (to be confirmed)."""

    filename: str
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    team_matches: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the whole file may be imported."""
        return not self.errors and bool(self.rows)


def _cell(value: Any) -> str:
    """A spreadsheet cell as text; whole numbers (phone numbers typed as numbers) lose '.0'."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(filename: str, data: bytes) -> tuple[list[tuple[int, list[str]]], str | None]:
    """The file's lines as (line number, cells), or an error naming why it cannot be read."""
    is_xlsx = filename.lower().endswith(".xlsx") or data[:2] == b"PK"
    if is_xlsx:
        return _read_xlsx(data)
    if len(data) > MAX_XLSX_MB * 1024 * 1024:
        return [], gettext("超过 %(mb)s MB；请拆分文件", mb=MAX_XLSX_MB)
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        return [], gettext("不是 UTF-8 或 GB18030 文本")
    reader = csv.reader(io.StringIO(text))
    return [(n, [c.strip() for c in record]) for n, record in enumerate(reader, start=1)], None


def _unpacked_size(data: bytes) -> int:
    """What the archive says its members unpack to (zipfile never yields more than that)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sum(member.file_size for member in archive.infolist())


def _read_xlsx(data: bytes) -> tuple[list[tuple[int, list[str]]], str | None]:
    """The first sheet's lines, read only up to the row limit; an archive that would unpack
    to more than `MAX_XLSX_MB` is refused before it is parsed."""
    from openpyxl import load_workbook

    try:
        size = _unpacked_size(data)
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        return [], gettext("不是可读的 XLSX 工作簿（%(error)s）", error=type(exc).__name__)
    if size > MAX_XLSX_MB * 1024 * 1024:
        return [], (
            gettext(
                "工作簿解压后有 %(size)s MB，超过志愿者名单允许的 %(mb)s MB；未读取即拒绝",
                size=size // (1024 * 1024),
                mb=MAX_XLSX_MB,
            )
        )
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        return [], gettext("不是可读的 XLSX 工作簿（%(error)s）", error=type(exc).__name__)
    lines: list[tuple[int, list[str]]] = []
    try:
        rows = book.worksheets[0].iter_rows(values_only=True, max_col=MAX_COLUMNS)
        for n, values in enumerate(rows, start=1):
            cells = [_cell(v) for v in values]
            if any(cells):
                lines.append((n, cells))
            if len(lines) > MAX_ROWS + 1 or n > 4 * MAX_ROWS:
                return [], gettext("超过 %(n)s 行，请拆分文件", n=MAX_ROWS)
    finally:
        book.close()
    return lines, None


def _columns(header: list[str]) -> tuple[dict[str, int], list[RowError], list[str]]:
    wanted = {alias.lower(): name for name, aliases in HEADERS.items() for alias in aliases}
    columns: dict[str, int] = {}
    errors: list[RowError] = []
    ignored: list[str] = []
    for index, title in enumerate(header):
        name = wanted.get(title.strip().lower())
        if name is None:
            if title.strip():
                ignored.append(title.strip())
            continue
        if name in columns:
            errors.append(RowError(1, title, gettext("列 %(name)s 出现了两次", name=name)))
        columns[name] = index
    errors.extend(
        RowError(1, name, gettext("缺少列（以下之一：%(names)s）", names=", ".join(HEADERS[name])))
        for name in REQUIRED
        if name not in columns
    )
    return columns, errors, ignored


def _row(line: int, cells: dict[str, str], errors: list[RowError]) -> ImportRow | None:
    before = len(errors)

    def bad(name: str, message: str) -> None:
        errors.append(RowError(line, name, message))

    name = cells.get("name", "")
    if not name:
        bad("name", gettext("为空"))
    elif len(name) > 100:
        bad("name", gettext("超过 100 个字符"))
    phone = re.sub(r"[\s-]", "", cells.get("phone", ""))
    if not PHONE.match(phone) or len(phone) > 20:
        bad(
            "phone",
            gettext("%(value)s 不是电话号码（5 到 20 位数字）", value=repr(cells.get("phone", ""))),
        )
    gender = GENDER.get(cells.get("gender", "").lower())
    if gender is None:
        bad("gender", gettext("%(value)s 不是 男/女", value=repr(cells["gender"])))
    birth_year: int | None = None
    raw_year = cells.get("birth_year", "")
    raw_birth = cells.get("birth_date", "")
    if raw_year:
        if raw_year.isascii() and raw_year.isdigit() and 1900 <= int(raw_year) <= date.today().year:
            birth_year = int(raw_year)
        else:
            bad("birth_year", gettext("%(value)s 不是 1900 年至今的年份", value=repr(raw_year)))
    elif raw_birth:
        born = parse_date(raw_birth)
        if born is None or not 1900 <= born.year <= date.today().year:
            bad("birth_date", gettext("%(value)s 不是 1900 年至今的日期", value=repr(raw_birth)))
        else:
            birth_year = born.year
    skills = tuple(s.strip() for s in SKILL_SPLIT.split(cells.get("skills", "")) if s.strip())
    if any(len(s) > 50 for s in skills) or len(skills) > 20:
        bad("skills", gettext("最多 20 项技能，每项最多 50 个字符"))
    availability = cells.get("availability", "")
    if len(availability) > 200:
        bad("availability", gettext("超过 200 个字符"))
    active = cells.get("active", "").lower()
    if active not in YES | NO:
        bad("active", gettext("%(value)s 不是 是/否", value=repr(cells["active"])))
    joined_on: date | None = None
    raw_joined = cells.get("joined", "")
    if raw_joined:
        joined_on = parse_date(raw_joined)
        if joined_on is None:
            bad("joined", gettext("%(value)s 不是 2024-03-01 这样的日期", value=repr(raw_joined)))
    registration_no = cells.get("registration_no", "") or None
    if registration_no and len(registration_no) > 40:
        bad("registration_no", gettext("超过 40 个字符"))
    team = cells.get("team", "") or None
    if len(errors) > before:
        return None
    return ImportRow(
        line=line,
        name=name,
        phone=phone,
        gender=gender or "",
        birth_year=birth_year,
        registration_no=registration_no,
        skills=skills,
        availability=availability,
        team=team,
        is_active=active not in NO,
        joined_on=joined_on,
    )


def parse_date(text: str) -> date | None:
    """A date as sheets write it: 2024-03-01, 2024/3/1, 2024.3.1, 2024年3月1日, 20240301, with
    or without a time after it; None when it is none of these or no real day."""
    text = text.strip()
    found = DATE.match(text) or COMPACT_DATE.match(text)
    if found is None:
        return None
    try:
        return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        return None


def _core(name: str) -> str:
    """A team name without spaces and its usual ending (小蜜蜂维修队 → 小蜜蜂)."""
    name = re.sub(r"\s+", "", name)
    for suffix in TEAM_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def match_team(given: str, team_names: set[str]) -> list[str]:
    """The community's teams a sheet's team name can mean: itself when it is one, else those
    whose name is the same but for spaces and the usual ending, else those that begin with it."""
    if given in team_names:
        return [given]
    core = _core(given)
    same = sorted(t for t in team_names if _core(t) == core)
    if same:
        return same
    if len(core) < 2:  # one character names too little to guess from
        return []
    return sorted(t for t in team_names if re.sub(r"\s+", "", t).startswith(core))


def parse_volunteers(filename: str, data: bytes, team_names: set[str]) -> Parsed:
    """Check every line of a volunteer list; `team_names` are the community's teams."""
    parsed = Parsed(filename)
    lines, problem = read_table(filename, data)
    if problem:
        parsed.errors.append(RowError(0, "file", problem))
        return parsed
    lines = [(n, cells) for n, cells in lines if any(cells)]
    if not lines:
        parsed.errors.append(RowError(0, "file", gettext("文件是空的")))
        return parsed
    header_line, header = lines[0]
    columns, errors, parsed.ignored = _columns(header)
    parsed.errors.extend(RowError(header_line, e.field, e.message) for e in errors)
    if parsed.errors:
        return parsed
    if len(lines) - 1 > MAX_ROWS:
        parsed.errors.append(RowError(0, "file", gettext("超过 %(n)s 行；请拆分文件", n=MAX_ROWS)))
        return parsed
    seen: dict[str, int] = {}
    for line, raw in lines[1:]:
        cells = {name: (raw[i] if i < len(raw) else "") for name, i in columns.items()}
        row = _row(line, cells, parsed.errors)
        if row is None:
            continue
        if row.phone in seen:
            parsed.errors.append(
                RowError(
                    line,
                    "phone",
                    gettext(
                        "%(phone)s 已在第 %(line)s 行出现", phone=row.phone, line=seen[row.phone]
                    ),
                )
            )
            continue
        if row.team and row.team not in team_names:
            meant = match_team(row.team, team_names)
            if len(meant) != 1:
                message = (
                    gettext(
                        "%(team)s 可指多个队伍：%(teams)s", team=row.team, teams="、".join(meant)
                    )
                    if meant
                    else gettext("没有名为 %(team)s 的服务队", team=repr(row.team))
                )
                parsed.errors.append(RowError(line, "team", message))
                continue
            parsed.team_matches[row.team] = meant[0]
            row = replace(row, team=meant[0])
        seen[row.phone] = line
        parsed.rows.append(row)
    if not parsed.rows and not parsed.errors:
        parsed.errors.append(RowError(0, "file", gettext("表头下面没有志愿者")))
    return parsed


def check_fields(cells: dict[str, str]) -> ImportRow:
    """One volunteer's fields from a form, checked like a file's row (every problem named)."""
    errors: list[RowError] = []
    row = _row(0, {k: v.strip() for k, v in cells.items()}, errors)
    if row is None:
        raise InvalidInput("; ".join(f"{e.field}: {e.message}" for e in errors), "bad_volunteer")
    return row
