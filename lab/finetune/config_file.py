"""Reading an untrusted run-config file: size, type and encoding checks before YAML, and errors that never quote it.

A config arrives as a path an operator types or as bytes someone uploads. Both are checked before parsing (a
folder, a device, a 1 GB file, a binary), parsed with ``yaml.safe_load`` only, and must be a mapping of text keys.
Every refusal is an ``InputError`` naming the problem and the fix, never the content (it may sit next to a secret):

    >>> parse_yaml_mapping("lora_r: 8")
    {'lora_r': 8}
    >>> parse_yaml_mapping("- a list")
    Traceback (most recent call last):
    ...
    lab.core.errors.InputError: the config is not a run config: a run config is a YAML mapping of field: value lines ...

``lab.finetune.config`` turns the mapping into a validated ``RunConfig``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from lab.core.errors import InputError

MAX_CONFIG_BYTES = 64 * 1024  # a run config is ~1 KB of YAML; anything far bigger is not one


def read_config_file(path: str | Path) -> bytes:
    """The bytes of the config file an operator named on the command line, or an ``InputError`` that says why not.

    >>> read_config_file("/etc")
    Traceback (most recent call last):
    ...
    lab.core.errors.InputError: config file /etc is a folder, not a file: give the path of a .yaml file ...
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"config file {path} not found: check the path, or leave --config out for the defaults")
    if p.is_dir():
        raise InputError(
            f"config file {path} is a folder, not a file: give the path of a .yaml file "
            "(the page's 'Save YAML' writes one)"
        )
    if not p.is_file():
        raise InputError(
            f"config file {path} is not a regular file (a device or a pipe?): give the path of a .yaml file"
        )
    try:
        size = p.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise InputError(
                f"config file {path} is {size:,} bytes; a run config is a small YAML file (at most "
                f"{MAX_CONFIG_BYTES:,} bytes): is it the right file?"
            )
        return p.read_bytes()
    except OSError as e:
        raise InputError(
            f"config file {path} cannot be read ({e.strerror or type(e).__name__}): check its permissions"
        ) from None


def parse_yaml_mapping(text: str | bytes, *, source: str = "the config") -> dict:
    """YAML content -> a mapping with text keys, or an ``InputError`` naming what is wrong (never the content).

    >>> parse_yaml_mapping("lora_r: 8")
    {'lora_r': 8}
    >>> parse_yaml_mapping(b"\\xff\\xfe binary")
    Traceback (most recent call last):
    ...
    lab.core.errors.InputError: the config is not UTF-8 text (undecodable byte at offset 0): ...
    """
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_CONFIG_BYTES:
            raise InputError(
                f"{source} is {len(text):,} bytes; a run config is a small YAML file (at most "
                f"{MAX_CONFIG_BYTES:,} bytes)"
            )
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise InputError(
                f"{source} is not UTF-8 text (undecodable byte at offset {e.start}): a run config is "
                "a small YAML text file of field: value lines; save it as UTF-8"
            ) from None
    if len(text) > MAX_CONFIG_BYTES:
        raise InputError(
            f"{source} is {len(text):,} characters; a run config is a small YAML file (at most {MAX_CONFIG_BYTES:,})"
        )
    if "\x00" in text:
        raise InputError(f"{source} holds NUL bytes: it is a binary file, not YAML text")
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:  # its str() quotes the offending line: say where and what, not the content
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"{source} is not valid YAML{where}: {e.problem or e.context or 'syntax error'}") from None
    except yaml.YAMLError as e:
        raise InputError(f"{source} is not valid YAML ({type(e).__name__})") from None
    except RecursionError:
        raise InputError(f"{source} is nested too deeply to be a run config (field: value lines)") from None
    if data is None:
        raise InputError(
            f"{source} is empty: write field: value lines (for example lora_r: 16), or leave the "
            "config out for the defaults"
        )
    if not isinstance(data, dict):
        kind = "list" if isinstance(data, list) else "single value"
        raise InputError(
            f"{source} is not a run config: a run config is a YAML mapping of field: value lines "
            f"(for example lora_r: 16), not a {kind}"
        )
    if not all(isinstance(k, str) for k in data):
        raise InputError(
            f"{source} is not a run config: its field names must be words like lora_r, not numbers or lists"
        )
    return data
