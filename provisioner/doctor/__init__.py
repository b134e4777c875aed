"""`doctor`: the SSH preflight of every host before Ansible touches it. `run` logs in to the
hosts in parallel (through remote.connect) and records new host keys on request; `checks`
holds the checks themselves, plain functions of a command runner (sudo, python3, OS, disk,
ports, clock)."""

from .run import DoctorCheck, DoctorReport, fingerprint, run_doctor

__all__ = ["DoctorCheck", "DoctorReport", "fingerprint", "run_doctor"]
