"""Content keys of structures, shared by every labelled dataset.

Two structures get the same key when they have the same atomic numbers,
positions and cell to within ``POSITION_DECIMALS`` (1e-6 Å), and the same
periodicity. Datasets use the key to skip structures already labelled.
"""

from __future__ import annotations

import hashlib
import numbers

import numpy as np

POSITION_DECIMALS = 6  # positions and cell rounded to 1e-6 Å before hashing
KEY_LENGTH = 24  # hex characters kept from the SHA-256 digest


def _rounded(values: np.ndarray) -> bytes:
    rounded = np.round(np.asarray(values, dtype=np.float64), POSITION_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    return np.ascontiguousarray(rounded).tobytes()


def structure_key(atoms) -> str:
    """Content hash of an ``ase.Atoms`` (numbers, positions, cell, pbc), hex string."""
    digest = hashlib.sha256()
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    digest.update(_rounded(atoms.positions))
    digest.update(_rounded(atoms.cell[:]))
    digest.update(np.asarray(atoms.pbc, dtype=np.int8).tobytes())
    return digest.hexdigest()[:KEY_LENGTH]


# Metadata keys of labelled structures (``atoms.info`` and dataset metadata), declared once.
DEFECT = "defect"  # str, defect name: "pristine", "As_Ga", "V_As", "As_i" ...
DEFECT_SITE = "defect_site"  # (3,) float, Å, Cartesian position of the defect (follows the defect atom in MD)
DEFECT_INDEX = "defect_index"  # int, index of the defect atom; -1 for a vacancy
INTERSTITIAL_SITE = "interstitial_site"  # str, interstitial site name ("tetrahedral-anion" ...)
TEMPERATURE_K = "temperature_k"  # float, K, MD temperature the structure was sampled at
CONFIG_TYPE = "config_type"  # str, where the structure came from: "rattled", "md", "transfer" ...
POOL_KEY = "pool_key"  # str, the active-learning pool entry the structure was labelled for
DEFECT_INFO = (DEFECT, DEFECT_SITE, DEFECT_INDEX, INTERSTITIAL_SITE)  # what an MD frame inherits from its cell


def scalar_info(info: dict) -> dict:
    """The string and number entries of an ``atoms.info`` (NumPy scalars as Python numbers).

    Structures read back from extended XYZ carry their integers as ``np.int64``,
    which is no ``int``: a filter on ``(str, int, float)`` silently drops them
    (an MD frame's ``md_step``, for one).
    """
    out = {}
    for key, value in info.items():
        if isinstance(value, np.generic) and np.ndim(value) == 0:
            value = value.item()
        if isinstance(value, (str, numbers.Number)):
            out[key] = value
    return out
