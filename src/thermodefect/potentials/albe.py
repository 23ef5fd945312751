"""The Albe et al. Ga–As analytic bond-order potential as an ASE calculator.

K. Albe, K. Nordlund, J. Nord, A. Kuronen, Phys. Rev. B 66, 035205 (2002).
The potential is published in the analytic bond-order (ABOP, Brenner-type)
form; it maps exactly onto the Tersoff form evaluated by
:class:`ase.calculators.tersoff.Tersoff` (LAMMPS ``pair_style tersoff``
conventions, ``m = n = beta = 1``):

* repulsion   ``D0/(S-1) exp(-beta_p sqrt(2S) (r - r0))  = A exp(-lambda1 r)``
* attraction  ``S D0/(S-1) exp(-beta_p sqrt(2/S) (r - r0)) = B exp(-lambda2 r)``
* angular     ``g = gamma (1 + c²/d² - c²/(d² + (h + cos θ)²))`` so ``costheta0 = -h``
* three-body  ``exp(alpha (r_ij - r_ik))`` so ``lambda3 = alpha`` (``m = 1``)
* cutoff      ``1/2 - 1/2 sin(pi/2 (r - R)/D)`` on ``[R - D, R + D]``.

The three-body parameters of the triplet (i, j, k) are those of the pair i–k;
two-body parameters of (i, j, j) are those of the pair i–j, as in the
published conversion. Units: eV, Å. It provides energies, forces and stress,
no Hamiltonian: a cheap stand-in for a reference where many forces are needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ase.calculators.tersoff import Tersoff, TersoffParameters


@dataclass(frozen=True)
class AbopPairParameters:
    """Published ABOP parameters of one element pair (Table I of Albe et al. 2002)."""

    gamma: float
    S: float
    beta_per_angstrom: float
    D0_ev: float
    r0_angstrom: float
    c: float
    d: float
    h: float
    alpha_per_angstrom: float
    R_angstrom: float
    D_angstrom: float


# Albe, Nordlund, Nord, Kuronen, PRB 66, 035205 (2002), Table I.
ALBE_2002_PAIRS: dict[frozenset, AbopPairParameters] = {
    frozenset({"Ga"}): AbopPairParameters(0.007874, 1.11, 1.08, 1.40, 2.3235, 1.918, 0.75, 0.3013, 1.846, 2.95, 0.15),
    frozenset({"As"}): AbopPairParameters(0.455, 1.86, 1.435, 3.96, 2.10, 0.1186, 0.1612, 0.07748, 3.161, 3.4, 0.2),
    frozenset({"Ga", "As"}): AbopPairParameters(0.0166, 1.1417, 1.5228, 2.10, 2.35, 1.29, 0.56, 0.237, 0.0, 3.1, 0.2),
}


def _pair(a: str, b: str) -> AbopPairParameters:
    return ALBE_2002_PAIRS[frozenset({a, b})]


def tersoff_parameters(pairs: dict[frozenset, AbopPairParameters] = ALBE_2002_PAIRS) -> dict[tuple[str, str, str], TersoffParameters]:
    """Convert ABOP pair parameters into ASE/LAMMPS Tersoff triplet entries.

    Entry (i, j, k): the two-body part (A, B, lambda1, lambda2) is set only
    when j == k (LAMMPS reads two-body terms from the (i, j, j) entry) and
    comes from pair i–j; the angular/three-body part and the cutoff come from
    pair i–k.
    """
    elements = sorted({e for key in pairs for e in key})
    out: dict[tuple[str, str, str], TersoffParameters] = {}
    for i in elements:
        for j in elements:
            for k in elements:
                three = pairs[frozenset({i, k})]
                lambda1 = lambda2 = a_ev = b_ev = 0.0
                if j == k:
                    two = pairs[frozenset({i, j})]
                    lambda1 = two.beta_per_angstrom * math.sqrt(2.0 * two.S)
                    lambda2 = two.beta_per_angstrom * math.sqrt(2.0 / two.S)
                    a_ev = two.D0_ev / (two.S - 1.0) * math.exp(lambda1 * two.r0_angstrom)
                    b_ev = two.S * two.D0_ev / (two.S - 1.0) * math.exp(lambda2 * two.r0_angstrom)
                out[(i, j, k)] = TersoffParameters(
                    m=1.0,
                    gamma=three.gamma,
                    lambda3=three.alpha_per_angstrom,
                    c=three.c,
                    d=three.d,
                    h=-three.h,
                    n=1.0,
                    beta=1.0,
                    lambda2=lambda2,
                    B=b_ev,
                    R=three.R_angstrom,
                    D=three.D_angstrom,
                    lambda1=lambda1,
                    A=a_ev,
                )
    return out


class AlbeGaAs(Tersoff):
    """Albe et al. (2002) Ga–As bond-order potential (energy, forces, stress).

    Zincblende GaAs: a = 5.65 Å, cohesive energy 3.35 eV/atom (as published).
    """

    def __init__(self, skin: float = 0.3, **kwargs) -> None:
        super().__init__(tersoff_parameters(), skin=skin, **kwargs)
