"""Parsing and printing of flag value types the way stout does (durations, booleans, numbers)."""

from __future__ import annotations

import re
import socket
import struct

# stout's Duration units, smallest first, with their length in nanoseconds.
_UNITS: list[tuple[str, int]] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("secs", 1_000_000_000),
    ("mins", 60 * 1_000_000_000),
    ("hrs", 3_600 * 1_000_000_000),
    ("days", 86_400 * 1_000_000_000),
    ("weeks", 7 * 86_400 * 1_000_000_000),
]
_UNIT_NS = dict(_UNITS)
_DURATION = re.compile(r"^\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-z]+)\s*$")


class BadValue(ValueError):
    """A flag value that does not parse; the message follows stout's wording."""


def parse_duration(text: str) -> float:
    """Return seconds for a stout duration such as `10secs`, `1mins`, `500ms`."""
    match = _DURATION.match(text)
    if not match or match.group(2) not in _UNIT_NS:
        raise BadValue(f"Invalid duration '{text}'")
    return float(match.group(1)) * _UNIT_NS[match.group(2)] / 1e9


def format_duration(seconds: float) -> str:
    """Print a duration like stout's operator<<: the largest unit below the value."""
    nanos = seconds * 1e9
    unit, size = _UNITS[0]
    for name, length in _UNITS:
        if abs(nanos) >= length:
            unit, size = name, length
    value = nanos / size
    text = f"{value:.15g}"
    return f"{text}{unit}"


def parse_bool(text: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise BadValue("Expecting a boolean (e.g., true or false)")


def parse_int(text: str, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        number = int(text.strip())
    except ValueError as err:
        raise BadValue("Failed to convert into required type") from err
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise BadValue("Failed to convert into required type")
    return number


def parse_float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError as err:
        raise BadValue("Failed to convert into required type") from err


def is_ipv4(text: str) -> bool:
    """Dotted-quad IPv4 only, as libprocess requires for `--ip` and `--advertise_ip`."""
    try:
        socket.inet_pton(socket.AF_INET, text)
    except OSError:
        return False
    return True


def ip_as_uint32(ip: str) -> int:
    """MasterInfo.ip: the raw network-order s_addr read as a little-endian uint32 (x86)."""
    return int(struct.unpack("<I", socket.inet_aton(ip))[0])


def reverse_lookup(ip: str) -> str | None:
    """The name libprocess would report for `ip`, or None when there is no reverse entry."""
    try:
        return socket.gethostbyaddr(ip)[0]
    except OSError:
        return None


def default_ip() -> str:
    """The address libprocess advertises when `--ip` is unset: what the hostname resolves to."""
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def parse_pid(pid: str) -> tuple[str, str, int]:
    """Split a libprocess PID `id@ip:port` into its parts."""
    match = re.match(r"^([^@]+)@([^:]+):([0-9]+)$", pid.strip())
    if not match:
        raise BadValue(f"Failed to parse PID '{pid}'")
    return match.group(1), match.group(2), int(match.group(3))
