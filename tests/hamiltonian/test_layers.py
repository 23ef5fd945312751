"""The fast per-edge weighted tensor product equals e3nn's weighted one; the reachability check."""

from __future__ import annotations

import pytest
import torch

from thermodefect.core.compat import import_e3nn_o3
from thermodefect.core.errors import UserInputError
from thermodefect.hamiltonian import build_model
from thermodefect.hamiltonian.layers import EdgeWeightedTensorProduct

from .conftest import SPD, tiny_settings

ATOL = 1e-12
IRREPS_IN = "3x0e+2x1o+2x2e+1x1e"
IRREPS_SH = "1x0e+1x1o+1x2e"
IRREPS_TARGET = "0e+1o+1e+2e+2o+3o+4e"


def reference_tensor_product(o3, irreps_target):
    """e3nn's own 'uvu' product with per-edge weights, path by path (the slow form)."""
    wanted = {ir for _, ir in o3.Irreps(irreps_target)}
    mid, instructions = [], []
    for i, (mul, ir_in) in enumerate(o3.Irreps(IRREPS_IN)):
        for j, (_, ir_sh) in enumerate(o3.Irreps(IRREPS_SH)):
            for ir_out in ir_in * ir_sh:
                if ir_out in wanted:
                    instructions.append((i, j, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
    return o3.TensorProduct(IRREPS_IN, IRREPS_SH, o3.Irreps(mid), instructions,
                            shared_weights=False, internal_weights=False), mid


def test_matches_e3nn_weighted_tensor_product_up_to_channel_order():
    o3 = import_e3nn_o3()
    torch.manual_seed(0)
    fast = EdgeWeightedTensorProduct(IRREPS_IN, IRREPS_SH, IRREPS_TARGET).double()
    slow, mid = reference_tensor_product(o3, IRREPS_TARGET)
    slow = slow.double()
    assert fast.weight_numel == slow.weight_numel
    x = torch.randn(7, o3.Irreps(IRREPS_IN).dim, dtype=torch.float64)
    sh = o3.spherical_harmonics(IRREPS_SH, torch.randn(7, 3, dtype=torch.float64), normalize=True, normalization="component")
    w = torch.randn(7, slow.weight_numel, dtype=torch.float64)
    expected = slow(x, sh, w)[:, fast.component_order]
    assert torch.allclose(fast(x, sh, w), expected, atol=ATOL)
    assert fast.irreps_out.dim == expected.shape[1]
    assert len(fast.irreps_out) == len({ir for _, ir in mid})  # one chunk per irrep type


def test_output_is_grouped_by_irrep_and_equivariant():
    o3 = import_e3nn_o3()
    torch.manual_seed(1)
    tp = EdgeWeightedTensorProduct(IRREPS_IN, IRREPS_SH, IRREPS_TARGET).double()
    x = torch.randn(5, o3.Irreps(IRREPS_IN).dim, dtype=torch.float64)
    vec = torch.randn(5, 3, dtype=torch.float64)
    w = torch.randn(5, tp.weight_numel, dtype=torch.float64)
    rot = o3.rand_matrix(dtype=torch.float64)
    sh = lambda v: o3.spherical_harmonics(IRREPS_SH, v, normalize=True, normalization="component")
    d_in = o3.Irreps(IRREPS_IN).D_from_matrix(rot)
    d_out = tp.irreps_out.D_from_matrix(rot)
    rotated = tp(x @ d_in.T, sh(vec @ rot.T), w)
    assert torch.allclose(rotated, tp(x, sh(vec), w) @ d_out.T, atol=1e-10)


def test_harmonics_up_to_two_reach_d_d_blocks_with_two_layers():
    model = build_model(tiny_settings(lmax=2, num_layers=2), {31: SPD, 33: SPD})
    assert model.irreps_head.lmax == 4


def test_too_small_lmax_for_the_basis_is_a_user_error():
    with pytest.raises(UserInputError, match="raise lmax or num_layers"):
        build_model(tiny_settings(lmax=1, num_layers=1), {31: SPD, 33: SPD})
