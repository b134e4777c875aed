"""The backup archive and its sealed secrets: what `restore` refuses before changing anything."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pytest
from typer.testing import CliRunner

from provisioner.backup.archive import check_identity, read_archive, write_archive
from provisioner.backup.sealed import PASSPHRASE_ENV, read_passphrase, seal, unseal
from provisioner.cli import app
from provisioner.domain import Machine
from provisioner.errors import ArchiveError, UsageError
from provisioner.state import ClusterState, StateStore

runner = CliRunner()

STATIC = (
    "name: lab\nssh: {user: ops}\nprovider:\n  kind: static\n  hosts:\n"
    "    - {name: m1, address: 192.0.2.11, roles: [master, zookeeper]}\n"
    "    - {name: a1, address: 192.0.2.21, roles: [agent]}\n"
)
MEMBERS = {
    "zookeeper.json": b'{"znodes": []}\n',
    "mesos/operator.json": b'{"quota_configs": [], "weights": []}\n',
}


def archive(tmp_path, cluster="lab", cluster_id="abc123", members=None):
    manifest = {"cluster": cluster, "cluster_id": cluster_id, "created_at": "now"}
    return write_archive(tmp_path / f"{cluster}.tar.gz", manifest, members or dict(MEMBERS))


def test_written_archive_reads_back_with_a_checksum_per_member(tmp_path):
    path = archive(tmp_path)
    read = read_archive(path)
    assert read.members == MEMBERS
    assert set(read.manifest["files"]) == set(MEMBERS)
    assert read.manifest["cluster"] == "lab"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_truncated_archive_is_refused_by_name(tmp_path):
    path = archive(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError) as caught:
        read_archive(path)
    assert str(path) in caught.value.message
    assert "damaged or truncated" in caught.value.message


def test_flipped_byte_is_refused_wherever_it_is(tmp_path):
    path = archive(tmp_path)
    data = bytearray(path.read_bytes())
    refused = 0
    for offset in range(len(data)):
        flipped = bytearray(data)
        flipped[offset] ^= 0x01
        path.write_bytes(bytes(flipped))
        with pytest.raises(ArchiveError):
            read_archive(path)
        refused += 1
    assert refused == len(data)


def test_altered_member_inside_a_valid_gzip_is_refused(tmp_path):
    """Re-packed by hand, so gzip's CRC and header are right: the manifest's checksums catch it."""
    path = archive(tmp_path)
    with tarfile.open(path, "r:gz") as tar:
        entries = {m.name: tar.extractfile(m).read() for m in tar}
    entries["mesos/operator.json"] = b'{"quota_configs": [{"role": "evil"}]}\n'
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    forged = tmp_path / "forged.tar.gz"
    forged.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    with pytest.raises(ArchiveError, match=r"checksum mismatch in mesos/operator\.json"):
        read_archive(forged)


def test_not_an_archive_and_missing_file_are_refused(tmp_path):
    plain = tmp_path / "notes.tar.gz"
    plain.write_bytes(gzip.compress(b"hello"))
    with pytest.raises(ArchiveError, match="damaged or truncated"):
        read_archive(plain)
    with pytest.raises(ArchiveError, match="cannot read the backup"):
        read_archive(tmp_path / "missing.tar.gz")


def test_other_clusters_archive_is_refused_by_name_and_by_identity(tmp_path):
    other = read_archive(archive(tmp_path, cluster="prod"))
    with pytest.raises(ArchiveError, match="backup of cluster 'prod', not 'lab'"):
        check_identity(tmp_path / "x", other, "lab", "abc123")
    twin = read_archive(archive(tmp_path, cluster="lab", cluster_id="fff000"))
    with pytest.raises(ArchiveError, match="another cluster named 'lab'"):
        check_identity(tmp_path / "x", twin, "lab", "abc123")
    check_identity(tmp_path / "x", twin, "lab", "fff000")  # its own: accepted


def test_sealed_secrets_open_only_with_the_passphrase_and_the_identity():
    blob = seal(b'{"operator": "x"}', "correct horse battery", "abc123")
    assert b"operator" not in blob
    assert unseal(blob, "correct horse battery", "abc123", "a.tar.gz") == b'{"operator": "x"}'
    with pytest.raises(ArchiveError, match="wrong passphrase"):
        unseal(blob, "wrong horse battery", "abc123", "a.tar.gz")
    with pytest.raises(ArchiveError, match="wrong passphrase"):
        unseal(blob, "correct horse battery", "other-id", "a.tar.gz")


def test_passphrase_comes_from_a_file_or_the_environment_never_too_short(tmp_path, monkeypatch):
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    assert read_passphrase(None) is None
    monkeypatch.setenv(PASSPHRASE_ENV, "from-the-environment")
    assert read_passphrase(None) == "from-the-environment"
    secret = tmp_path / "pass"
    secret.write_text("from-the-file-first-line\nignored\n")
    assert read_passphrase(secret) == "from-the-file-first-line"
    secret.write_text("short\n")
    with pytest.raises(UsageError, match="at least 8 characters"):
        read_passphrase(secret)
    with pytest.raises(UsageError, match="cannot read it"):
        read_passphrase(tmp_path / "absent")


def test_the_cli_takes_no_passphrase_value(tmp_path):
    spec = tmp_path / "c.yaml"
    spec.write_text(STATIC)
    result = runner.invoke(app, ["backup", str(spec), "--passphrase", "secret-value"])
    assert result.exit_code == 2
    assert "No such option" in result.output


def _recorded_cluster(tmp_path, cluster_id="abc123"):
    spec = tmp_path / "c.yaml"
    spec.write_text(STATIC)
    store = StateStore(tmp_path / ".dcos-provision" / "lab", "lab", "static")
    state = ClusterState(cluster="lab", provider="static", cluster_id=cluster_id)
    state.machines["m1"] = Machine("m1", ("master", "zookeeper"), "192.0.2.11", "ops")
    store.save(state)
    return spec, store


@pytest.mark.parametrize("damage", ["truncated", "flipped", "foreign", "twin"])
def test_restore_refuses_a_bad_archive_with_one_message_and_changes_nothing(tmp_path, damage):
    spec, store = _recorded_cluster(tmp_path)
    before = store.state_file.read_bytes()
    if damage in ("truncated", "flipped"):
        path = archive(tmp_path)
        data = bytearray(path.read_bytes())
        if damage == "truncated":
            data = data[: len(data) - 30]
        else:
            data[len(data) // 2] ^= 0x40
        path.write_bytes(bytes(data))
    else:
        path = archive(tmp_path, cluster="prod" if damage == "foreign" else "lab", cluster_id="f0")
    # The machines are documentation addresses: any attempt to reach them would fail loudly
    # (and slowly); the refusal must come first.
    result = runner.invoke(app, ["restore", "--json", str(spec), str(path)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert str(path) in result.stderr.replace("\n", "")
    assert "nothing was changed" in result.stderr
    assert "Traceback" not in result.output
    assert json.loads(result.stdout)["error"]
    assert store.state_file.read_bytes() == before
    assert not (store.directory / "secrets.json").exists()
