"""Benchmark: copy a large image between two local registries, and pull it to disk.

Starts three CNCF distribution registries on loopback (the test harness's ``RegistryServer``):
a source and one fresh destination per tool, so neither tool finds blobs the other pushed.
Builds an image of ``--size`` bytes in ``--layers`` random (incompressible) layers as an OCI
layout on disk, pushes it to the source with ``skopeo copy --preserve-digests``, then measures,
each in its own process (wall time and peak RSS from ``wait4``):

- ``reginventory copy`` (the async ``copy_image``) source -> destination A;
- ``skopeo copy --preserve-digests`` source -> destination B (byte for byte, like reginventory;
  without it skopeo would recompress the uncompressed layers);
- ``reginventory pull`` (``pull_to_cache``) source -> a folder, and ``skopeo copy`` to ``dir:``.

Run:  .venv/bin/python benchmarks/bench_copy.py --size 1G --layers 4 [--repeat 3] [--workdir /dev/shm]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
PIECE = 8 * 1024 * 1024


def parse_size(text: str) -> int:
    """``1G``, ``256M``, ``512K`` or a number of bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def write_random_blob(blob_dir: Path, size: int, seed: int) -> tuple[str, int]:
    """Write ``size`` seeded random bytes as a blob of an OCI layout; return (digest, size)."""
    rng = random.Random(seed)
    h = hashlib.sha256()
    tmp = blob_dir / f"tmp-{seed}"
    with open(tmp, "wb") as f:
        left = size
        while left:
            piece = rng.randbytes(min(PIECE, left))
            h.update(piece)
            f.write(piece)
            left -= len(piece)
    digest = "sha256:" + h.hexdigest()
    tmp.rename(blob_dir / h.hexdigest())
    return digest, size


def write_blob(blob_dir: Path, data: bytes) -> dict[str, object]:
    hexd = hashlib.sha256(data).hexdigest()
    (blob_dir / hexd).write_bytes(data)
    return {"digest": f"sha256:{hexd}", "size": len(data)}


def build_layout(path: Path, size: int, layers: int) -> str:
    """An OCI layout with one image of ``layers`` random layers; returns the manifest digest."""
    blob_dir = path / "blobs" / "sha256"
    blob_dir.mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    per = size // layers
    descs = []
    for i in range(layers):
        digest, n = write_random_blob(blob_dir, per + (size - per * layers if i == layers - 1 else 0), 1000 + i)
        descs.append({"mediaType": OCI_LAYER_TAR, "digest": digest, "size": n})
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descs]},
         "config": {"Labels": {"bench": "reginventory"}}},
        separators=(",", ":"),
    ).encode()
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **write_blob(blob_dir, config)}, "layers": descs,
    }
    raw = json.dumps(manifest, separators=(",", ":")).encode()
    mdesc = write_blob(blob_dir, raw)
    index = {"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST, **mdesc,
                                                 "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}
    (path / "index.json").write_text(json.dumps(index))
    return str(mdesc["digest"])


@dataclass
class Measure:
    """One measured run: wall seconds, CPU seconds (user, system) and peak RSS in MiB."""

    seconds: float
    user: float
    system: float
    rss_mib: float


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> Measure:
    """Run ``cmd``: wall time, CPU time (``wait4``) and peak RSS (VmHWM polled from /proc).

    VmHWM is read while the process runs because ``ru_maxrss`` would also count the memory of
    the forking parent (it survives exec).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak_kib = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak_kib = max(peak_kib, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])}... failed ({proc.returncode}):\n{err.decode(errors='replace')}\n{out.decode(errors='replace')}")
    return Measure(elapsed, usage.ru_utime, usage.ru_stime, peak_kib / 1024)


def child(argv: list[str]) -> None:
    """The measured reginventory side: ``copy SRC_URL REPO TAG DST_URL REPO`` or ``pull URL REPO TAG DIR``."""
    from reginventory.client.blob_cache import BlobCache
    from reginventory.client.copy import copy_image, pull_to_cache
    from reginventory.client.registry_client import RegistryClient

    async def run() -> None:
        if argv[0] == "copy":
            async with RegistryClient(argv[1], use_docker_config=False) as src, \
                    RegistryClient(argv[4], use_docker_config=False) as dst:
                await copy_image(src, argv[2], argv[3], dst, argv[5])
        else:
            async with RegistryClient(argv[1], use_docker_config=False) as src:
                await pull_to_cache(src, argv[2], argv[3], BlobCache(Path(argv[4]) / "image"))

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="total image size (e.g. 1G, 256M); default 1G")
    parser.add_argument("--layers", type=int, default=4, help="number of layers; default 4")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each operation, interleaved; default 3")
    parser.add_argument("--workdir", default=None,
                        help="where registries and files go (default: a temp dir; /dev/shm takes the disk out)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    size = parse_size(args.size)

    from harness.registry import RegistryServer  # noqa: E402 - the test harness

    work = Path(tempfile.mkdtemp(prefix="reginventory-bench-", dir=args.workdir))
    env = {**os.environ, "HOME": str(work / "home"), "REGISTRY_AUTH_FILE": str(work / "auth.json")}
    (work / "auth.json").write_text('{"auths":{}}')
    (work / "home").mkdir(exist_ok=True)
    no_tls = ["--src-tls-verify=false", "--dest-tls-verify=false"]
    results: dict[str, list[Measure]] = {}
    try:
        t = time.perf_counter()
        digest = build_layout(work / "layout", size, args.layers)
        print(f"built {size / 2**20:.0f} MiB in {args.layers} layers ({time.perf_counter() - t:.1f} s), manifest {digest}")
        with RegistryServer("anonymous", directory=work / "src", name="src") as src:
            seed = run_measured([SKOPEO, "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
                                 f"oci:{work / 'layout'}:bench", f"docker://{src.host}/bench/img:v1"], env)
            print(f"seeded the source with skopeo in {seed.seconds:.1f} s")
            same = True
            for round_ in range(args.repeat):
                # Fresh destinations every round: nothing is skipped because it is already there.
                with RegistryServer("anonymous", directory=work / f"sk{round_}", name="dst-sk") as dst_sk, \
                        RegistryServer("anonymous", directory=work / f"rg{round_}", name="dst-rg") as dst_rg:
                    order = [("skopeo", dst_sk), ("reginventory", dst_rg)]
                    for tool, dst in (order if round_ % 2 == 0 else order[::-1]):
                        if tool == "skopeo":
                            cmd = [SKOPEO, "copy", "--quiet", "--preserve-digests", *no_tls,
                                   f"docker://{src.host}/bench/img:v1", f"docker://{dst.host}/bench/img:v1"]
                        else:
                            cmd = [sys.executable, __file__, "--child", "copy", src.url, "bench/img", "v1", dst.url, "bench/img"]
                        results.setdefault(f"{tool} copy, registry -> registry", []).append(run_measured(cmd, env))
                    check = subprocess.run([SKOPEO, "inspect", "--raw", "--tls-verify=false",
                                            f"docker://{dst_rg.host}/bench/img:v1"], capture_output=True, env=env, check=True)
                    same = same and "sha256:" + hashlib.sha256(check.stdout).hexdigest() == digest
                for tool in (("skopeo", "reginventory") if round_ % 2 == 0 else ("reginventory", "skopeo")):
                    out = work / f"pull-{tool}-{round_}"
                    if tool == "skopeo":
                        cmd = [SKOPEO, "copy", "--quiet", "--preserve-digests", "--src-tls-verify=false",
                               f"docker://{src.host}/bench/img:v1", f"dir:{out}"]
                        name = "skopeo copy, registry -> dir:"
                    else:
                        cmd = [sys.executable, __file__, "--child", "pull", src.url, "bench/img", "v1", str(out)]
                        name = "reginventory pull, registry -> filebasename cache"
                    results.setdefault(name, []).append(run_measured(cmd, env))
                    shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(work / f"sk{round_}", ignore_errors=True)
                shutil.rmtree(work / f"rg{round_}", ignore_errors=True)
        print(f"\nimage: {size / 2**20:.0f} MiB in {args.layers} layers; {args.repeat} interleaved runs each; "
              f"work dir on {work.parent}; reginventory's copy kept the digest: {same}")
        print(f"{'operation':<50} {'best s':>7} {'median s':>8} {'MB/s best':>9} {'MB/s med':>8} {'CPU s':>6} {'peak RSS MiB':>12}")
        for name, runs in results.items():
            best = min(runs, key=lambda m: m.seconds)
            med = statistics.median(m.seconds for m in runs)
            cpu = statistics.median(m.user + m.system for m in runs)
            rss = max(m.rss_mib for m in runs)
            print(f"{name:<50} {best.seconds:>7.2f} {med:>8.2f} {size / 1e6 / best.seconds:>9.1f} {size / 1e6 / med:>8.1f} "
                  f"{cpu:>6.2f} {rss:>12.1f}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
