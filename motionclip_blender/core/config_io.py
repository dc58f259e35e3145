"""Strict dataclass <-> dict conversion shared by the model, loss and training configs: a misspelt key
in a JSON config is an error naming the key, never silently ignored."""

from __future__ import annotations

from dataclasses import fields
from typing import TypeVar

from .errors import InputError

T = TypeVar("T")


def from_dict_strict(cls: type[T], data: dict, what: str) -> T:
    if not isinstance(data, dict):
        raise InputError(f"{what} must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise InputError(f"unknown {what} keys: {sorted(unknown)} (known: {sorted(known)})")
    return cls(**data)
