"""Label structures with a universal potential whose weights ship inside its PyPI wheel.

Runs in the teacher's own environment (it needs only ASE and the teacher's
package, not thermodefect): SevenNet needs e3nn >= 0.5, which mace-torch's
pin excludes, so the teachers cannot share the package's environment.

    python benchmarks/teacher_label.py TEACHER IN.extxyz OUT.extxyz

TEACHER is ``chgnet`` (CHGNet 0.3, pip package ``chgnet``) or ``sevennet-0``
(SevenNet-0, pip package ``sevenn``). Every frame of IN gets the teacher's
energy in ``info["REF_energy"]`` (eV) and forces in ``arrays["REF_forces"]``
(eV/Å), the keys the force-field training reads. OUT is written through a
temporary file, so a killed run leaves no half-written labels. One thread,
CPU.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

TEACHERS = ("chgnet", "sevennet-0")


def teacher_calculator(name: str):
    """The ASE calculator of a teacher, on the CPU."""
    if name == "chgnet":
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        return CHGNetCalculator(model=CHGNet.load(verbose=False), use_device="cpu")
    if name == "sevennet-0":
        from sevenn.calculator import SevenNetCalculator

        return SevenNetCalculator("7net-0", device="cpu")
    raise SystemExit(f"error: unknown teacher {name!r}; known: {', '.join(TEACHERS)}")


def label_file(calc, source: Path, target: Path) -> int:
    """Every frame of ``source`` with ``calc``'s energy and forces as REF_energy / REF_forces, into ``target``
    (through a temporary file); returns the number of frames."""
    from ase.io import read, write

    out = []
    for atoms in read(str(source), index=":"):
        atoms.calc = calc
        energy = float(atoms.get_potential_energy())
        forces = atoms.get_forces().copy()
        labelled = atoms.copy()
        labelled.calc = None
        labelled.info["REF_energy"] = energy
        labelled.arrays["REF_forces"] = forces
        out.append(labelled)
    partial = target.with_suffix(".partial.extxyz")
    write(str(partial), out, format="extxyz")
    partial.replace(target)
    return len(out)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[0] + "\nusage: teacher_label.py TEACHER IN.extxyz OUT.extxyz", file=sys.stderr)
        return 2
    name, source, target = argv[0], Path(argv[1]), Path(argv[2])
    if name not in TEACHERS:
        print(f"error: unknown teacher {name!r}; known: {', '.join(TEACHERS)}", file=sys.stderr)
        return 2
    if not source.is_file():
        print(f"error: no structures file {source}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    calc = teacher_calculator(name)
    started = time.perf_counter()
    n = label_file(calc, source, target)
    seconds = time.perf_counter() - started
    print(f"{name}: {n} frames in {seconds:.1f} s ({seconds / max(n, 1):.3f} s per frame)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
