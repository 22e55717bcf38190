"""Benchmark: copy a large image between two local registries, and pull it to disk.

Starts three CNCF distribution registries on loopback (the test harness's ``RegistryServer``):
a source and one fresh destination per tool, so neither tool finds blobs the other pushed.
Builds an image of ``--size`` bytes in ``--layers`` random (incompressible) layers as an OCI
layout on disk, pushes it to the source with ``skopeo copy --preserve-digests``, then measures,
each in its own process (wall time, CPU time and peak RSS), with the CPU time the source and
destination registries spend meanwhile (from ``/proc/<pid>/stat``):

- the ``reginventory copy`` command (start-up included) source -> destination A;
- ``skopeo copy --preserve-digests`` source -> destination B (byte for byte, like reginventory;
  without it skopeo would recompress the uncompressed layers);
- the ``reginventory pull`` command source -> a folder, and ``skopeo copy`` to ``dir:``.

The last lines give reginventory's speed as a multiple of skopeo's (median times, same run), and
each tool's start-up: the median time of a copy of a missing tag, which fails at its first
request.

Run:  .venv/bin/python benchmarks/bench_copy.py --size 1G --layers 4 [--repeat 3] [--workdir /dev/shm]
"""

from __future__ import annotations

import argparse
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
    """One measured run: wall seconds, CPU seconds (user, system), peak RSS in MiB, and the CPU
    seconds the source and destination registries spent meanwhile."""

    seconds: float
    user: float
    system: float
    rss_mib: float
    src_cpu: float = 0.0
    dst_cpu: float = 0.0


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_beside(cmd: list[str], env: dict[str, str], src_pid: int, dst_pid: int) -> Measure:
    """:func:`run_measured`, plus the CPU the two registries used during the run."""
    src0, dst0 = process_cpu(src_pid), process_cpu(dst_pid)
    measure = run_measured(cmd, env)
    measure.src_cpu = process_cpu(src_pid) - src0
    measure.dst_cpu = process_cpu(dst_pid) - dst0
    return measure


def run_measured(cmd: list[str], env: dict[str, str] | None = None, *, check: bool = True) -> Measure:
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
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])}... failed ({proc.returncode}):\n{err.decode(errors='replace')}\n{out.decode(errors='replace')}")
    return Measure(elapsed, usage.ru_utime, usage.ru_stime, peak_kib / 1024)


def print_run(round_: int, name: str, m: Measure, dst: bool = True) -> None:
    """One line per run, as it ends (the summary gives medians; this shows the spread)."""
    registries = f"src + dst registry CPU {m.src_cpu:4.2f} + {m.dst_cpu:4.2f} s" if dst else f"src registry CPU {m.src_cpu:4.2f} s"
    print(f"  round {round_ + 1}: {name:<18} {m.seconds:6.2f} s, CPU {m.user + m.system:5.2f} s, {registries}", flush=True)


def compile_package() -> None:
    """Byte-compile reginventory as an installed wheel is (pip compiles at install).

    The checkout runs with PYTHONDONTWRITEBYTECODE=1, so without this every start compiles
    every module again (~0.12 s of CPU). ``checked-hash`` files are checked against the source
    at each import, so an edit made meanwhile is never run stale.
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash",
                    str(ROOT / "reginventory")], check=True, stdout=subprocess.DEVNULL)


def reginventory_cli() -> list[str]:
    """The installed ``reginventory`` command (the entry point beside this Python)."""
    script = Path(sys.executable).parent / "reginventory"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reginventory"]


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
        compile_package()
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
                            cmd = [*reginventory_cli(), "copy", f"{src.host}/bench/img:v1", f"{dst.host}/bench/img:v1"]
                        assert src.proc is not None and dst.proc is not None
                        measure = run_beside(cmd, env, src.proc.pid, dst.proc.pid)
                        results.setdefault(f"{tool} copy, registry -> registry", []).append(measure)
                        print_run(round_, f"{tool} copy", measure)
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
                        cmd = [*reginventory_cli(), "pull", f"{src.host}/bench/img:v1", str(out)]
                        name = "reginventory pull, registry -> filebasename cache"
                    assert src.proc is not None
                    measure = run_beside(cmd, env, src.proc.pid, src.proc.pid)
                    results.setdefault(name, []).append(measure)
                    print_run(round_, name.split(",")[0], measure, dst=False)
                    shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(work / f"sk{round_}", ignore_errors=True)
                shutil.rmtree(work / f"rg{round_}", ignore_errors=True)
            # Start-up: a copy of a tag that does not exist fails at its first request.
            missing = f"{src.host}/bench/img:missing"
            startup = {
                "skopeo": [SKOPEO, "copy", "--quiet", *no_tls, f"docker://{missing}", f"docker://{src.host}/bench/out:x"],
                "reginventory": [*reginventory_cli(), "copy", missing, f"{src.host}/bench/out:x"],
            }
            for _ in range(5):
                for tool, cmd in startup.items():
                    results.setdefault(f"{tool} start-up", []).append(run_measured(cmd, env, check=False))
        print(f"\nimage: {size / 2**20:.0f} MiB in {args.layers} layers; {args.repeat} interleaved runs each; "
              f"work dir on {work.parent}; reginventory's copy kept the digest: {same}")
        print(f"{'operation':<50} {'best s':>7} {'median s':>8} {'MB/s best':>9} {'MB/s med':>8} {'CPU s':>6} "
              f"{'peak RSS MiB':>12} {'src reg CPU s':>13} {'dst reg CPU s':>13}")
        for name, runs in results.items():
            if name.endswith("start-up"):
                continue
            best = min(runs, key=lambda m: m.seconds)
            med = statistics.median(m.seconds for m in runs)
            cpu = statistics.median(m.user + m.system for m in runs)
            rss = max(m.rss_mib for m in runs)
            src_cpu = statistics.median(m.src_cpu for m in runs)
            dst_cpu = f"{statistics.median(m.dst_cpu for m in runs):>13.2f}" if "registry -> registry" in name else f"{'-':>13}"
            print(f"{name:<50} {best.seconds:>7.2f} {med:>8.2f} {size / 1e6 / best.seconds:>9.1f} {size / 1e6 / med:>8.1f} "
                  f"{cpu:>6.2f} {rss:>12.1f} {src_cpu:>13.2f} {dst_cpu}")
        print()
        for ours, theirs in (("reginventory copy, registry -> registry", "skopeo copy, registry -> registry"),
                             ("reginventory pull, registry -> filebasename cache", "skopeo copy, registry -> dir:")):
            ratio = statistics.median(m.seconds for m in results[theirs]) / statistics.median(m.seconds for m in results[ours])
            verdict = "at least as fast as skopeo" if ratio >= 1 else "SLOWER than skopeo"
            print(f"{ours.split(',')[0]} vs {theirs.split(',')[0]} ({ours.split(', ')[1]}): "
                  f"{ratio:.2f}x skopeo's speed (median time), {verdict}")
        starts = {tool: statistics.median(m.seconds for m in results[f"{tool} start-up"]) for tool in ("reginventory", "skopeo")}
        phases = {tool: statistics.median(m.seconds for m in results[f"{tool} copy, registry -> registry"]) - starts[tool]
                  for tool in starts}
        print(f"start-up (median of 5 copies of a missing tag): reginventory {starts['reginventory']:.2f} s, "
              f"skopeo {starts['skopeo']:.2f} s; the copy without it: {phases['skopeo'] / phases['reginventory']:.2f}x skopeo's speed")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    main()
