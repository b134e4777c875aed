#!/usr/bin/python3
"""Write this host's Mesos and ZooKeeper figures for node exporter's textfile collector.

Installed by dcos-provision (role `monitoring`), run by a systemd timer. Reads the settings
file given as argument (JSON: output, timeout_s, mesos [{role, url}], principal, secret,
ca_file, cert_file, key_file, zookeeper "addr:port"), then `/metrics/snapshot` and
`/version` of each local Mesos process (HTTP Basic as the health principal) and ZooKeeper's
`mntr`, and replaces the output file atomically (write to a temporary file, rename).
"""

import base64
import json
import os
import re
import socket
import ssl
import sys
import tempfile
import time
import urllib.request

_NAME = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(prefix, key):
    return prefix + _NAME.sub("_", key)


def label(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def fetch_json(url, config):
    request = urllib.request.Request(url)
    if config.get("principal"):
        token = f"{config['principal']}:{config['secret']}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
    context = None
    if url.startswith("https:"):
        context = ssl.create_default_context(cafile=config.get("ca_file") or None)
        if config.get("cert_file"):
            context.load_cert_chain(config["cert_file"], config.get("key_file") or None)
    with urllib.request.urlopen(request, timeout=config["timeout_s"], context=context) as answer:
        return json.loads(answer.read().decode("utf-8"))


def mesos_lines(endpoint, config):
    role, url = endpoint["role"], endpoint["url"].rstrip("/")
    lines = []
    try:
        snapshot = fetch_json(url + "/metrics/snapshot", config)
        version = fetch_json(url + "/version", config).get("version", "unknown")
    except (OSError, ValueError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return [f'dcos_mesos_up{{role="{role}"}} 0']
    lines.append(f'dcos_mesos_up{{role="{role}"}} 1')
    lines.append(f'dcos_mesos_version_info{{role="{role}",version="{label(version)}"}} 1')
    seen = set()
    for key, value in sorted(snapshot.items()):
        name = metric_name("dcos_mesos_", key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or name in seen:
            continue
        seen.add(name)
        lines.append(f'{name}{{role="{role}"}} {float(value)!r}')
    return lines


def zookeeper_lines(address, config):
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=config["timeout_s"]) as conn:
            conn.sendall(b"mntr")
            conn.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        print(f"zookeeper {address}: {exc}", file=sys.stderr)
        return ["dcos_zookeeper_up 0"]
    text = b"".join(chunks).decode("utf-8", "replace")
    fields = dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)
    if "zk_server_state" not in fields:  # "not currently serving requests": no quorum
        return ["dcos_zookeeper_up 0"]
    state = fields["zk_server_state"].strip()
    lines = ["dcos_zookeeper_up 1", f"dcos_zookeeper_leader {1 if state == 'leader' else 0}"]
    lines.append(f'dcos_zookeeper_server_state{{state="{label(state)}"}} 1')
    for key, value in sorted(fields.items()):
        try:
            number = float(value)
        except ValueError:
            continue
        lines.append(f"{metric_name('dcos_', key)} {number!r}")
    return lines


def main():
    with open(sys.argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    lines = []
    for endpoint in config.get("mesos", []):
        lines += mesos_lines(endpoint, config)
    if config.get("zookeeper"):
        lines += zookeeper_lines(config["zookeeper"], config)
    lines.sort()  # one metric's samples together, whatever the roles on this host
    lines.append(f"dcos_exporter_last_run_timestamp_seconds {time.time():.3f}")
    output = config["output"]
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(output), prefix=".dcos.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, output)
    except BaseException:
        os.unlink(temporary)
        raise


if __name__ == "__main__":
    main()
