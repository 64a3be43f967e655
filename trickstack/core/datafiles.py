"""Files as data: read TOML and validate it strictly, with errors that name the file and the key.

Study specs (`trickstack.ablations.spec`) and recipes (`trickstack.recipes.recipe`) both go through here, so
a mistake reads the same in either: ``FILE: KEY.PATH: what is wrong``.

>>> class Demo(Strict):
...     name: str
>>> validate(Demo, parse_toml('name = 3', source="demo.toml"), source="demo.toml")
Traceback (most recent call last):
    ...
trickstack.core.errors.UserError: demo.toml: name: Input should be a valid string
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union

import tomllib
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from trickstack.core.errors import UserError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """A section of a data file: unknown keys are errors, values are frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_line(text: str) -> str:
    if not text.strip() or "\n" in text or "\r" in text:
        raise ValueError("must be one non-empty line")
    return text


OneLine = Annotated[str, AfterValidator(_one_line)]


def check_regular(path: Union[str, Path], what: str) -> None:
    """A `UserError` unless ``path`` is a regular file (after links): a device (``/dev/urandom`` reads for
    ever), a pipe (blocks until a writer comes) or a folder is never read as a data file. A missing path
    passes: the read that follows names it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or socket"
        raise UserError(f"{path}: the {what} is {kind}, not a regular file")


def read_text(path: Union[str, Path], what: str) -> str:
    """The text of ``path``; a `UserError` naming it (and ``what`` it should be) if it cannot be read or is
    not a regular file."""
    check_regular(path, what)
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: cannot read the {what}: not UTF-8 text (byte {error.start}); is it the right file?") from None
    except OSError as error:
        raise UserError(f"{path}: cannot read the {what} ({error.strerror})") from None


def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{source}: malformed TOML: {error}") from None


def validate(model: type[M], data: dict[str, Any], source: str) -> M:
    """``model.model_validate(data)``, its first error turned into ``SOURCE: KEY.PATH: message``."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        message = first["msg"].removeprefix("Value error, ")
        raise UserError(f"{source}: {where}: {message}{more}") from None
