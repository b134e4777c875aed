"""Maintenance schedule and machine modes (UP, DRAINING, DOWN) with Mesos' validation rules.

Mirrors src/master/maintenance.cpp and the handlers in src/master/http.cpp (MESOS-FACTS §6).
The stand-in keeps this in the leader's memory; real Mesos stores it in the registry.
"""

from __future__ import annotations

import json
from typing import Any

from .values import is_ipv4

MachineKey = tuple[str | None, str | None]


class Invalid(ValueError):
    """A request the real master answers with 400 Bad Request."""


def machine_key(machine: dict[str, Any]) -> MachineKey:
    """MachineID equality: same fields present, hostnames compared case-insensitively."""
    hostname = machine.get("hostname") or None
    ip = machine.get("ip") or None
    return (hostname.lower() if hostname else None, ip)


def _describe(machine: dict[str, Any]) -> str:
    fields = {k: machine[k] for k in ("hostname", "ip") if machine.get(k)}
    return json.dumps(fields, separators=(",", ":"))


def _machine(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise Invalid(f"Expecting a JSON object for {where}")
    machine = {k: raw[k] for k in ("hostname", "ip") if raw.get(k)}
    for value in machine.values():
        if not isinstance(value, str):
            raise Invalid(f"Expecting strings for 'hostname' and 'ip' in {where}")
    if not machine:
        raise Invalid("Both 'hostname' and 'ip' for a machine are empty")
    if "ip" in machine and not is_ipv4(machine["ip"]):
        raise Invalid(f"Failed to parse IP address '{machine['ip']}'")
    return machine


def _nanoseconds(raw: Any, where: str) -> int:
    if not isinstance(raw, dict) or not isinstance(raw.get("nanoseconds"), int):
        raise Invalid(f"Missing required fields: {where}.nanoseconds")
    return int(raw["nanoseconds"])


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as err:
        raise Invalid(f"Failed to parse JSON: {err}") from err


def parse_machine_list(body: bytes) -> list[dict[str, Any]]:
    """The body of machine/down and machine/up: a JSON array of MachineIDs, unique, non-empty."""
    document = _parse_json(body)
    if not isinstance(document, list):
        raise Invalid("Expecting a JSON array of machine IDs")
    if not document:
        raise Invalid("List of machines is empty")
    machines, seen = [], set()
    for index, raw in enumerate(document):
        machine = _machine(raw, f"[{index}]")
        if machine_key(machine) in seen:
            raise Invalid(f"Machine '{_describe(machine)}' appears more than once in the schedule")
        seen.add(machine_key(machine))
        machines.append(machine)
    return machines


class Maintenance:
    """The one schedule the master keeps, and the mode of every machine it mentions."""

    def __init__(self) -> None:
        self.windows: list[dict[str, Any]] = []
        self.modes: dict[MachineKey, tuple[dict[str, Any], str]] = {}

    def schedule_json(self) -> dict[str, Any]:
        return {"windows": self.windows} if self.windows else {}

    def update_schedule(self, body: bytes) -> None:
        document = _parse_json(body)
        if not isinstance(document, dict):
            raise Invalid("Expecting a JSON object for the maintenance schedule")
        raw_windows = document.get("windows", [])
        if not isinstance(raw_windows, list):
            raise Invalid("Expecting 'windows' to be an array")
        windows, updated = [], {}
        for index, raw in enumerate(raw_windows):
            where = f"windows[{index}]"
            if not isinstance(raw, dict) or not isinstance(raw.get("unavailability"), dict):
                raise Invalid(f"Missing required fields: {where}.unavailability")
            unavailability = raw["unavailability"]
            window_json: dict[str, Any] = {
                "unavailability": {
                    "start": {
                        "nanoseconds": _nanoseconds(
                            unavailability.get("start"), f"{where}.unavailability.start"
                        )
                    }
                }
            }
            if "duration" in unavailability:
                duration = _nanoseconds(
                    unavailability["duration"], f"{where}.unavailability.duration"
                )
                if duration < 0:
                    raise Invalid("Unavailability 'duration' is negative")
                window_json["unavailability"]["duration"] = {"nanoseconds": duration}
            ids = raw.get("machine_ids", [])
            if not isinstance(ids, list) or not ids:
                raise Invalid("List of machines in the maintenance window is empty")
            machines = []
            for number, raw_id in enumerate(ids):
                machine = _machine(raw_id, f"{where}.machine_ids[{number}]")
                if machine_key(machine) in updated:
                    raise Invalid(
                        f"Machine '{_describe(machine)}' appears more than once in the schedule"
                    )
                updated[machine_key(machine)] = machine
                machines.append(machine)
            windows.append({"machine_ids": machines, **window_json})
        for key, (machine, mode) in self.modes.items():
            if mode == "DOWN" and key not in updated:
                raise Invalid(
                    f"Machine '{_describe(machine)}' is deactivated and cannot be "
                    "removed from the schedule"
                )
        # Machines dropped from the schedule go back UP; new ones start DRAINING.
        self.modes = {
            key: (updated[key], self.modes[key][1] if key in self.modes else "DRAINING")
            for key in updated
        }
        self.windows = windows

    def start_maintenance(self, machines: list[dict[str, Any]]) -> None:
        """machine/down: every machine must be scheduled and DRAINING; they become DOWN."""
        for machine in machines:
            entry = self.modes.get(machine_key(machine))
            if entry is None:
                raise Invalid(
                    f"Machine '{_describe(machine)}' is not part of a maintenance schedule"
                )
            if entry[1] != "DRAINING":
                raise Invalid(
                    f"Machine '{_describe(machine)}' is not in DRAINING mode and "
                    "cannot be brought down"
                )
        for machine in machines:
            key = machine_key(machine)
            self.modes[key] = (self.modes[key][0], "DOWN")

    def stop_maintenance(self, machines: list[dict[str, Any]]) -> None:
        """machine/up: every machine must be DOWN; they go UP and leave the schedule."""
        for machine in machines:
            entry = self.modes.get(machine_key(machine))
            if entry is None or entry[1] != "DOWN":
                raise Invalid(
                    f"Machine '{_describe(machine)}' is not in DOWN mode and cannot be brought up"
                )
        keys = {machine_key(machine) for machine in machines}
        for key in keys:
            del self.modes[key]
        windows = []
        for window in self.windows:
            left = [m for m in window["machine_ids"] if machine_key(m) not in keys]
            if left:
                windows.append({**window, "machine_ids": left})
        self.windows = windows

    def is_down(self, machine: dict[str, Any]) -> bool:
        entry = self.modes.get(machine_key(machine))
        return entry is not None and entry[1] == "DOWN"

    def status_json(self) -> dict[str, Any]:
        draining = [{"id": m} for m, mode in self.modes.values() if mode == "DRAINING"]
        down = [m for m, mode in self.modes.values() if mode == "DOWN"]
        status: dict[str, Any] = {}
        if draining:
            status["draining_machines"] = draining
        if down:
            status["down_machines"] = down
        return status
