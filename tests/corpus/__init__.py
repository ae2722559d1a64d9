"""The bad-input corpus: small adapter folders and archives, each broken in one way.

Generated (not committed as binaries) so every case is readable here: ``CASES`` maps a case id
to a builder that writes the case under a folder and returns the path to pass to
``hubcli add``, and to the fragment the one-line error must contain. ``tests/test_corpus.py``
runs them all and checks exit code 1, one line, and an unchanged registry.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.peft_files import write_peft_lora

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
LORA_A = "base_model.model.encoder.layer.0.attention.self.query.lora_A.weight"


@dataclass(frozen=True)
class Case:
    build: Callable[[Path], Path]
    message: str


def _lora(root: Path) -> Path:
    return write_peft_lora(root / "adapter", seed=7)


def _edit_config(change: Callable[[dict], object]) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        folder = _lora(root)
        config = json.loads((folder / CONFIG).read_text())
        change(config)
        (folder / CONFIG).write_text(json.dumps(config))
        return folder

    return build


def _config_text(text: str) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        folder = _lora(root)
        (folder / CONFIG).write_text(text)
        return folder

    return build


def _raw_safetensors(header: dict, data: bytes, header_len: int | None = None) -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded) if header_len is None else header_len) + encoded + data


def _weights_bytes(content: bytes) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        folder = _lora(root)
        (folder / WEIGHTS).write_bytes(content)
        return folder

    return build


def _drop_tensor(root: Path) -> Path:
    from safetensors.numpy import load_file, save_file

    folder = _lora(root)
    tensors = load_file(str(folder / WEIGHTS))
    del tensors[LORA_A.replace("lora_A", "lora_B")]
    save_file(tensors, str(folder / WEIGHTS))
    return folder


def _wrong_rank(root: Path) -> Path:
    folder = _lora(root)
    config = json.loads((folder / CONFIG).read_text())
    config["r"] = 3
    (folder / CONFIG).write_text(json.dumps(config))
    return folder


class _Exploit:
    """Unpickling this would run a shell command that creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def exploit_marker(root: Path) -> Path:
    return root / "pwned"


def _code_executing_pickle(root: Path) -> Path:
    folder = _lora(root)
    (folder / WEIGHTS).unlink()
    # Protocol 2, like torch.save: the safe unpickler must refuse the GLOBAL, not the framing.
    payload = pickle.dumps({LORA_A: _Exploit(exploit_marker(root))}, protocol=2)
    (folder / "adapter_model.bin").write_bytes(payload)
    return folder


def _garbage_pickle(root: Path) -> Path:
    folder = _lora(root)
    (folder / WEIGHTS).unlink()
    (folder / "adapter_model.bin").write_bytes(b"\x80\x04not really a pickle")
    return folder


def _escaping_symlink(root: Path) -> Path:
    folder = _lora(root)
    outside = root / "outside.safetensors"
    (folder / WEIGHTS).rename(outside)
    (folder / WEIGHTS).symlink_to(outside)
    return folder


def _missing_weights(root: Path) -> Path:
    folder = _lora(root)
    (folder / WEIGHTS).unlink()
    return folder


def _tar_with(member: tarfile.TarInfo) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        target = root / "adapter.tar.gz"
        with tarfile.open(target, "w:gz") as bundle:
            bundle.addfile(member, io.BytesIO(b"{}") if member.isfile() else None)
        return target

    return build


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    """A tar member; regular files hold ``{}``."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = 2 if kind == tarfile.REGTYPE else 0
    info.linkname = link
    return info


def _zip_absolute(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    target = root / "adapter.zip"
    with zipfile.ZipFile(target, "w") as bundle:
        bundle.writestr("/etc/adapter_config.json", "{}")
    return target


def _non_utf8_tar(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    target = root / "adapter.tar"
    with tarfile.open(target, "w", format=tarfile.GNU_FORMAT, encoding="latin-1") as bundle:
        bundle.addfile(_member("adapter/conf\udce9.json"), io.BytesIO(b"{}"))
    return target


def _archived_lora(root: Path, damage: Callable[[bytes], bytes]) -> Path:
    """A good LoRA's .tar.gz, its bytes then passed through ``damage``. The weights are random
    (stored uncompressed inside deflate), so a flipped byte changes content, not the structure."""
    folder = _lora(root / "src")
    target = root / "adapter.tar.gz"
    with tarfile.open(target, "w:gz") as bundle:
        bundle.add(folder, arcname="adapter")
    target.write_bytes(damage(target.read_bytes()))
    return target


def _flip_inside(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x55]) + data[middle + 1 :]


def _zip_member_with(flag_bits: int = 0, compress_type: int = zipfile.ZIP_STORED) -> Callable[[Path], Path]:
    """A zip whose one member declares these flags and method in its headers (what an encrypted
    member or a method Python cannot read looks like to a reader)."""

    def build(root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        target = root / "adapter.zip"
        with zipfile.ZipFile(target, "w") as bundle:
            bundle.writestr("adapter/adapter_config.json", "{}")
        data = bytearray(target.read_bytes())
        for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the method follows the flags
            struct.pack_into("<HH", data, data.index(signature) + flags_at, flag_bits, compress_type)
        target.write_bytes(bytes(data))
        return target

    return build


def _zip_bomb(root: Path) -> Path:
    """A zip whose one member declares 2 GiB unpacked (headers edited: no 2 GiB is ever written)."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / "adapter.zip"
    with zipfile.ZipFile(target, "w") as bundle:
        bundle.writestr("adapter/adapter_model.safetensors", b"\0" * 1024, compress_type=zipfile.ZIP_DEFLATED)
    data = bytearray(target.read_bytes())
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        struct.pack_into("<I", data, data.index(signature) + size_at, 2 * 1024**3)
    target.write_bytes(bytes(data))
    return target


CASES: dict[str, Case] = {
    "truncated-json": Case(
        _config_text('{"peft_type": "LORA", "r": 2'), "adapter_config.json: invalid JSON at line 1"
    ),
    "malformed-json": Case(_config_text('{"peft_type": "LORA",}'), "adapter_config.json: invalid JSON"),
    "empty-config": Case(_config_text(""), "adapter_config.json: invalid JSON at line 1 column 1"),
    "config-not-object": Case(_config_text("[1, 2]"), "adapter_config.json: expected a JSON object"),
    "config-not-utf8": Case(lambda r: _bad_encoding(r), "adapter_config.json: not UTF-8"),
    "wrong-type-rank": Case(_edit_config(lambda c: c.update(r="eight")), "adapter_config.json"),
    "unknown-peft-type": Case(
        _edit_config(lambda c: c.update(peft_type="VERA")), "no installed architecture recognises"
    ),
    "unknown-adapterhub-architecture": Case(
        _config_text(
            json.dumps(
                {
                    "config": {"architecture": "reft"},
                    "model_name": "m",
                    "model_type": "bert",
                    "name": "x",
                    "version": "adapters.1.3.0",
                    "hidden_size": 32,
                }
            )
        ),
        "adapter_config.json",
    ),
    "missing-weights": Case(_missing_weights, "adapter_model"),
    "empty-weights": Case(_weights_bytes(b""), "not a safetensors file (0 bytes)"),
    "header-longer-than-file": Case(
        _weights_bytes(_raw_safetensors({}, b"", header_len=1 << 40)), "safetensors header claims"
    ),
    "header-not-json": Case(_weights_bytes(struct.pack("<Q", 4) + b"\xff\xfe{{"), "header is not valid JSON"),
    "offsets-past-end": Case(
        _weights_bytes(
            _raw_safetensors(
                {LORA_A: {"dtype": "F32", "shape": [2, 32], "data_offsets": [0, 256]}}, b"\0" * 16
            )
        ),
        "past the end of the data",
    ),
    "declared-2gb-tensor": Case(
        _weights_bytes(
            _raw_safetensors(
                {LORA_A: {"dtype": "F32", "shape": [1 << 29], "data_offsets": [0, 1 << 31]}}, b"\0" * 64
            )
        ),
        "past the end of the data",
    ),
    "size-disagrees-with-shape": Case(
        _weights_bytes(
            _raw_safetensors({LORA_A: {"dtype": "F32", "shape": [2, 32], "data_offsets": [0, 8]}}, b"\0" * 8)
        ),
        "declares shape [2, 32] F32 but spans 8 bytes",
    ),
    "overlapping-tensors": Case(
        _weights_bytes(
            _raw_safetensors(
                {
                    "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                    "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
                },
                b"\0" * 24,
            )
        ),
        "overlap",
    ),
    "unknown-dtype": Case(
        _weights_bytes(
            _raw_safetensors({"a": {"dtype": "Q4", "shape": [4], "data_offsets": [0, 2]}}, b"\0" * 2)
        ),
        "unknown dtype 'Q4'",
    ),
    "lora-a-without-b": Case(_drop_tensor, "lora_B"),
    "rank-disagrees-with-config": Case(_wrong_rank, "lora_A"),
    "code-executing-pickle": Case(_code_executing_pickle, "refused to load this pickle safely"),
    "garbage-pickle": Case(_garbage_pickle, "refused to load this pickle safely"),
    "symlink-out-of-folder": Case(_escaping_symlink, "symlink points outside the adapter folder"),
    "tar-dotdot": Case(_tar_with(_member("../../evil/adapter_config.json")), "would be written outside"),
    "tar-absolute": Case(_tar_with(_member("/tmp/adapter_config.json")), "would be written outside"),
    "tar-symlink": Case(_tar_with(_member("adapter/link", tarfile.SYMTYPE, link="/etc/passwd")), "is a link"),
    "tar-hardlink": Case(_tar_with(_member("adapter/link", tarfile.LNKTYPE, link="../x")), "is a link"),
    "tar-device": Case(_tar_with(_member("adapter/dev", tarfile.CHRTYPE)), "not a regular file"),
    "zip-absolute": Case(_zip_absolute, "would be written outside"),
    "tar-non-utf8-name": Case(_non_utf8_tar, "not UTF-8"),
    "not-an-archive": Case(lambda r: _not_an_archive(r), "cannot read archive"),
    "tar-gz-flipped-byte": Case(lambda r: _archived_lora(r, _flip_inside), "cannot read archive"),
    "tar-gz-cut-off": Case(lambda r: _archived_lora(r, lambda d: d[: len(d) - 9]), "cannot read archive"),
    "tar-gz-trailing-garbage": Case(
        lambda r: _archived_lora(r, lambda d: d + b"garbage"), "cannot read archive"
    ),
    "zip-encrypted-member": Case(_zip_member_with(flag_bits=0x1), "is encrypted"),
    "zip-unknown-compression": Case(_zip_member_with(compress_type=99), "uses compression method 99"),
    "zip-bomb": Case(_zip_bomb, "a decompression bomb"),
}


def _bad_encoding(root: Path) -> Path:
    folder = _lora(root)
    (folder / CONFIG).write_bytes(b'{"peft_type": "LORA\xff"}')
    return folder


def _not_an_archive(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    target = root / "adapter.tar.gz"
    target.write_bytes(b"this is no gzip")
    return target
