"""Issue #6 figures: pause and resume time against the live data in a sandbox's kernel.

For each size, a sandbox's Python kernel fills a NumPy array of that many MiB (written pages),
then pause/resume cycles run through the SandboxManager (the code path of the API, without
HTTP). Reported per size (medians over the rounds): the CRIU images' size, pause (host
connections closed + `criu dump` + bookkeeping) and the `criu dump` part, resume (`criu
restore` + cgroups + reconnect + readiness) and the `criu restore` part, and the first
`run_code` after resume (reconnecting the kernel's websocket).

    .venv/bin/python benchmarks/bench_pause.py [--sizes 0,50,200,1024] [--rounds 5]
        [--modes disk,resident]

Size 0 is an idle sandbox (the kernel with pandas, NumPy and matplotlib loaded, nothing more).
Modes, measured one after the other on the same sandbox in each round: "disk" pauses write the
checkpoint before they return (``pause_resident_seconds=0``); "resident" pauses freeze the
sandbox in memory and return, and the resume thaws it (the default, before its write-out).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from interpreter.core.config import Settings  # noqa: E402
from interpreter.core.options import SandboxOptions  # noqa: E402
from interpreter.runtime import criu  # noqa: E402
from interpreter.service.manager import SandboxManager  # noqa: E402
from tests.conftest import traversable  # noqa: E402


def timed(fn: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - started)

    return wrapper


async def run(manager: SandboxManager, sandbox_id: str, code: str) -> str:
    context = await manager.prepare_run(sandbox_id)
    out = []
    async for event in manager.run(context, code):
        text = getattr(event, "text", None)
        if event.type in ("stdout", "stderr") and text:
            out.append(text)
        if event.type == "error":
            raise RuntimeError(str(event))
    return "".join(out)


async def measure(
    manager: SandboxManager, size_mib: int, rounds: int, modes: list[str]
) -> dict[str, dict[str, float]]:
    dumps: list[float] = []
    restores: list[float] = []
    image_sizes: list[int] = []
    real_dump = criu.dump

    def dump(*args: Any, **kwargs: Any) -> criu.Dumped:
        result = real_dump(*args, **kwargs)
        dumps.append(result.seconds)
        image_sizes.append(result.image_bytes)
        return result

    criu.dump = dump  # type: ignore[assignment]
    restore_real = manager.runtime.restore
    manager.runtime.restore = timed(restore_real, restores)  # type: ignore[method-assign]
    record = await manager.create(SandboxOptions(memory_mb=max(1024, size_mib * 2 + 512)))
    times: dict[str, dict[str, list[float]]] = {
        mode: {"pause": [], "resume": [], "first_run": []} for mode in modes
    }
    try:
        await run(
            manager,
            record.id,
            f"import numpy as np\ndata = np.full({size_mib} * 2**20 // 8, 1.5)\nprint(data.nbytes)",
        )
        for _ in range(rounds):
            for mode in modes:  # interleaved: the same load for both
                manager.resident.seconds = 0 if mode == "disk" else 3600
                started = time.perf_counter()
                await manager.pause(record.id)
                times[mode]["pause"].append(time.perf_counter() - started)
                started = time.perf_counter()
                await manager.resume(record.id)
                times[mode]["resume"].append(time.perf_counter() - started)
                started = time.perf_counter()
                check = "print(data.nbytes >> 20, float(data[-1]) if data.size else 1.5)"
                out = await run(manager, record.id, check)
                times[mode]["first_run"].append(time.perf_counter() - started)
                assert out == f"{size_mib} 1.5\n", out
    finally:
        criu.dump = real_dump  # type: ignore[assignment]
        manager.runtime.restore = restore_real  # type: ignore[method-assign]
        await manager.kill(record.id)
    median = statistics.median
    figures = {mode: {k: median(v) for k, v in got.items()} for mode, got in times.items()}
    if "disk" in figures:
        figures["disk"].update(
            images_mib=median(image_sizes) / 2**20, dump=median(dumps), restore=median(restores)
        )
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="0,50,200,1024", help="MiB of live data, by commas")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modes", default="disk,resident", help="disk, resident, by commas")
    args = parser.parse_args()
    modes = args.modes.split(",")
    home = traversable(Path(tempfile.mkdtemp(prefix="bench-pause-")))
    settings = Settings(
        home=home, images_dir=Path("/var/lib/interpreter/images"), pool_size=0, max_timeout=3600
    )
    manager = SandboxManager(settings)
    await manager.start()
    # As served: the template snapshot exists (a sandbox whose network namespace is still a
    # fresh one's is then resumed with a new one; see criu.same_network), no warm pool.
    await manager.start_pool()
    pool = manager.fast_start.pool if manager.fast_start else None
    while pool is not None and pool.snapshots.get(settings.default_template) == "pending":
        await asyncio.sleep(0.2)
    print(f"CRIU {criu.version(settings.criu)}; {args.rounds} rounds per size, medians (ms)")
    header = "live data | mode | images | pause | of which criu dump | resume | of which criu"
    print(header + " restore | first run_code after resume")
    ms = lambda figure: "-" if figure is None else f"{figure * 1000:.0f}"  # noqa: E731
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            for mode, r in (await measure(manager, size, args.rounds, modes)).items():
                images = f"{r['images_mib']:.0f} MiB" if "images_mib" in r else "-"
                print(
                    f"{size} MiB | {mode} | {images} | {ms(r['pause'])} | {ms(r.get('dump'))} | "
                    f"{ms(r['resume'])} | {ms(r.get('restore'))} | {ms(r['first_run'])}",
                    flush=True,
                )
    finally:
        await manager.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
