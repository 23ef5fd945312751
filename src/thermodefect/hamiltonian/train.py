"""Training: Adam, ReduceLROnPlateau, early stopping on the validation loss, checkpoints.

The loss of each sample lives where its data lives (real-space blocks or
Bloch sums, see :mod:`.losses`) in units of ``target_scale``; Hamiltonian
models add ``eigenvalue_loss_weight`` times the Γ eigenvalue loss of
:mod:`.eigen_loss` (and ``gap_loss_weight`` times its gap term). A batch's
loss is the mean over its samples. The eigenvalue terms start at epoch
``eigenvalue_loss_start_epoch``, or earlier when the element loss stops
improving for ``patience`` epochs: on a freshly initialised model the levels
are eV off and that term would swamp the element loss. At the switch the best
element-loss weights are restored, the optimizer and LR schedule start afresh
and so does the best loss (checkpoint choice), since the loss changed definition.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from thermodefect.data.operators import HamiltonianSample
from thermodefect.core.errors import UserInputError
from thermodefect.hamiltonian.batch import collate
from thermodefect.hamiltonian.blocks import OrbitalLayout
from thermodefect.hamiltonian.checkpoint import build_from_config, save_model
from thermodefect.hamiltonian.config import TARGETS, resolve_config
from thermodefect.hamiltonian.eigen_loss import attach_eigen_targets, eigenvalue_loss_terms
from thermodefect.hamiltonian.losses import sample_loss
from thermodefect.hamiltonian.metrics import cell_shifts
from thermodefect.hamiltonian.targets import PreparedSample, prepare_sample
from thermodefect.core.files import atomic_write_json

HISTORY_FILE = "training.json"


class TrainingDiverged(UserInputError):
    """Training produced no finite loss; one-line message with what to change."""


@dataclass
class TrainResult:
    model: object  # HamiltonianModel with the best validation weights
    directory: Path
    best_valid_loss: float  # normalized MSE (units of target_scale squared)
    best_epoch: int
    epochs_run: int
    seconds_per_epoch: float
    history: list[dict] = field(default_factory=list)


def resolve_device(name: str):
    import torch

    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserInputError(f"hamiltonian.device = {name!r} but no CUDA device is available; use \"cpu\"")
    return torch.device(name)


def basis_of(samples: Sequence[HamiltonianSample]) -> dict[int, str]:
    """Union of the samples' bases; refuses two different bases for one element."""
    basis: dict[int, str] = {}
    for k, sample in enumerate(samples):
        for z, irreps in sample.basis.items():
            if int(z) in basis and basis[int(z)] != irreps:
                raise UserInputError(f"sample {k}: basis of Z={z} is {irreps!r}, earlier samples use {basis[int(z)]!r}")
            basis[int(z)] = irreps
    if not basis:
        raise UserInputError("no training samples with an orbital basis")
    return basis


def build_model(settings, basis: dict[int, str], target: str = "hamiltonian", avg_num_neighbors: float = 1.0):
    """A freshly initialised :class:`HamiltonianModel` from ``HamiltonianModelSettings``."""
    if target not in TARGETS:
        raise UserInputError(f"target must be one of {TARGETS}, got {target!r}")
    return build_from_config(resolve_config(settings, basis, target, avg_num_neighbors))


@dataclass(frozen=True)
class LossWeights:
    """Weights of the terms added to the element loss (dimensionless)."""

    eigenvalue: float = 0.0
    gap: float = 0.0

    @classmethod
    def from_settings(cls, settings, target: str) -> "LossWeights":
        if target != "hamiltonian":
            return cls()
        return cls(settings.eigenvalue_loss_weight, settings.gap_loss_weight)

    @property
    def uses_eigenvalues(self) -> bool:
        return self.eigenvalue > 0 or self.gap > 0


def prepare_samples(samples, layout: OrbitalLayout, cutoff_angstrom: float, target: str, name: str,
                    eigenvalue_bands: int = 0, baseline=None, shift_invariant: bool = False) -> list[PreparedSample]:
    """Graphs and targets; with ``eigenvalue_bands > 0`` also the Cholesky factors of the eigenvalue loss."""
    prepared = [prepare_sample(s, layout, cutoff_angstrom, target, f"{name} sample {k}", baseline, shift_invariant)
                for k, s in enumerate(samples)]
    if eigenvalue_bands > 0 and target == "hamiltonian":
        attach_eigen_targets(prepared, eigenvalue_bands)
    return prepared


def fit_normalization(prepared: list[PreparedSample], layout: OrbitalLayout, use_baseline: bool):
    """Onsite baseline (n_species, max_orb, max_orb) and the RMS of what is left (target units)."""
    m = layout.max_orbitals
    sums = np.zeros((layout.n_species, m, m))
    counts = np.zeros(layout.n_species)
    for p in prepared:
        species = layout.species_index(p.graph.numbers)
        if p.is_realspace:
            onsite = np.flatnonzero((p.graph.edge_index[0] == p.graph.edge_index[1]) & ~p.graph.cell_shift.any(axis=1))
            diag_blocks = [(p.graph.edge_index[0, e], p.blocks[e]) for e in onsite]
        else:
            from thermodefect.data.operators import orbital_offsets

            off = orbital_offsets(p.graph.numbers, layout.basis)
            gamma = np.real(p.matrices[0])
            diag_blocks = [(a, gamma[off[a]:off[a + 1], off[a]:off[a + 1]]) for a in range(p.graph.n_atoms)]
        for atom, block in diag_blocks:
            sums[species[atom]] += layout.isotropic_onsite(block, layout.numbers[species[atom]])
            counts[species[atom]] += 1
    baseline = sums / np.maximum(counts, 1)[:, None, None] if use_baseline else np.zeros_like(sums)
    squares, n_entries = 0.0, 0
    for p in prepared:
        species = layout.species_index(p.graph.numbers)
        onsite = (p.graph.edge_index[0] == p.graph.edge_index[1]) & ~p.graph.cell_shift.any(axis=1)
        base_blocks = baseline[species[p.graph.edge_index[0]]] * onsite[:, None, None]
        if p.is_realspace:
            squares += float((((p.blocks - base_blocks)[p.block_mask]) ** 2).sum())
            n_entries += int(p.block_mask.sum())
        else:
            from thermodefect.hamiltonian.targets import bloch_sum_numpy

            base = np.real(bloch_sum_numpy(base_blocks, p.graph, p.fold, np.zeros(3)))
            covered = np.unique(p.fold.matrix_flat)
            squares += float(((np.real(p.matrices[0]) - base).ravel()[covered] ** 2).sum())
            n_entries += covered.size
    scale = (squares / max(n_entries, 1)) ** 0.5
    return baseline, max(scale, 1e-8)


def potential_scale(prepared: list[PreparedSample], fallback: float) -> float:
    """RMS of the diagonal of what the baseline leaves: the size of the atom-shell potentials."""
    values = []
    for p in prepared:
        if p.is_realspace:
            onsite = (p.graph.edge_index[0] == p.graph.edge_index[1]) & ~p.graph.cell_shift.any(axis=1)
            values.append(np.concatenate([np.diagonal(b)[np.diagonal(m)] for b, m in zip(p.blocks[onsite], p.block_mask[onsite])]))
        else:
            values.append(np.real(np.diagonal(p.matrices[0])))
    rms = float(np.sqrt(np.mean(np.concatenate(values) ** 2))) if values else 0.0
    return rms if rms > 0 else fallback


def batch_loss(model, prepared: list[PreparedSample], device, weights: LossWeights = LossWeights()):
    batch = collate([p.graph for p in prepared], model.layout).to(device, model.dtype)
    blocks, potentials = model.forward_with_potentials(batch)
    losses = []
    for k, p in enumerate(prepared):
        sample_blocks = blocks[batch.edge_ptr[k]:batch.edge_ptr[k + 1]]
        u = potentials[batch.node_ptr[k]:batch.node_ptr[k + 1]] if model.uses_potentials else None
        loss = sample_loss(sample_blocks, p, model.target_scale, u, model.layout)
        if weights.uses_eigenvalues and p.eigen is not None:
            eigen_term, gap_term = eigenvalue_loss_terms(sample_blocks, p, model.target_scale, u)
            loss = loss + weights.eigenvalue * eigen_term + weights.gap * gap_term
        losses.append(loss)
    return sum(losses) / len(losses)


def mean_loss(model, prepared: list[PreparedSample], batch_size: int, device,
              weights: LossWeights = LossWeights()) -> float:
    import torch

    if not prepared:
        return float("nan")
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(prepared), batch_size):
            chunk = prepared[start:start + batch_size]
            total += float(batch_loss(model, chunk, device, weights)) * len(chunk)
    return total / len(prepared)


def train_model(train_samples: Sequence[HamiltonianSample], valid_samples: Sequence[HamiltonianSample], settings,
                out_dir: str | Path, seed: int = 0, target: str = "hamiltonian", progress: bool = True,
                baseline=None, initial=None) -> TrainResult:
    """Train one model; the best-validation weights are saved to ``out_dir`` and returned.

    ``settings`` is a ``HamiltonianModelSettings``. With no validation
    samples the training loss drives early stopping and the LR schedule.
    ``baseline`` (a fitted :class:`~thermodefect.hamiltonian.two_center.TwoCenterModel`):
    the network learns the reference minus the baseline, and the saved model
    carries the baseline, so predictions are network + baseline.
    ``initial`` (a trained :class:`HamiltonianModel`): continue training a copy
    of it -- its architecture, weights, normalisation and baseline -- with the
    training options of ``settings`` (learning rate, epochs, loss weights);
    the architecture options of ``settings`` are then not used.
    """
    import torch
    from tqdm import tqdm

    if not train_samples:
        raise UserInputError("no training samples")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = resolve_device(settings.device)
    basis = basis_of(list(train_samples) + list(valid_samples))
    layout = OrbitalLayout(basis)
    if initial is not None:
        baseline = _check_initial(initial, basis, target, baseline)
    weights = LossWeights.from_settings(settings, target)
    bands = settings.eigenvalue_loss_bands if weights.uses_eigenvalues else 0
    invariant = settings.shift_invariant_loss
    train = prepare_samples(train_samples, layout, settings.cutoff_angstrom, target, "training", bands, baseline, invariant)
    valid = prepare_samples(valid_samples, layout, settings.cutoff_angstrom, target, "validation", bands, baseline, invariant)
    if initial is None:
        avg_neighbors = float(np.mean([p.graph.n_edges / p.graph.n_atoms for p in train]))
        model = build_model(settings, basis, target, avg_neighbors)
        model.two_center = baseline
        onsite, scale = fit_normalization(train, layout, settings.onsite_baseline)
        model.onsite_baseline.copy_(torch.as_tensor(onsite))
        model.target_scale.fill_(scale)
        model.potential_scale.fill_(potential_scale(train, scale))
    else:  # the initial model's normalisation stays: its weights were trained in those units
        model = copy.deepcopy(initial)
        model.two_center = baseline
        scale = float(model.target_scale)
    model.to(device)
    optimizer, scheduler = _optimizer(model, settings)

    best_loss, best_epoch, best_state, history = float("inf"), -1, None, []
    band_start = settings.eigenvalue_loss_start_epoch if weights.uses_eigenvalues else 0
    active = weights if band_start == 0 else LossWeights()
    started = time.perf_counter()
    bar = tqdm(range(settings.max_epochs), desc=f"{target} model (seed {seed})", disable=not progress, leave=False)
    epoch = -1
    for epoch in bar:
        if active is not weights and epoch >= band_start:
            # The loss changes definition, so earlier losses are not comparable with the new ones. The
            # band-energy phase starts from the best element-loss weights with a fresh optimizer and
            # schedule: continuing a converged model this way is what was measured (docs/hamiltonian.md).
            active = weights
            if best_state is not None:
                model.load_state_dict(best_state)
            optimizer, scheduler = _optimizer(model, settings)
            best_loss, best_epoch = float("inf"), epoch
        model.train()
        order = rng.permutation(len(train))
        train_total = 0.0
        for start in range(0, len(order), settings.batch_size):
            chunk = [train[k] for k in order[start:start + settings.batch_size]]
            optimizer.zero_grad()
            loss = batch_loss(model, chunk, device, active)
            loss.backward()
            optimizer.step()
            train_total += loss.item() * len(chunk)
        train_loss = train_total / len(train)
        model.eval()
        valid_loss = mean_loss(model, valid, settings.batch_size, device, active) if valid else train_loss
        scheduler.step(valid_loss)
        history.append({"epoch": epoch, "train_loss": train_loss, "valid_loss": valid_loss,
                        "learning_rate": optimizer.param_groups[0]["lr"], "band_terms": active.uses_eigenvalues})
        bar.set_postfix(train=f"{train_loss:.3g}", valid=f"{valid_loss:.3g}")
        if valid_loss < best_loss:
            best_loss, best_epoch = valid_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= settings.patience:
            if active is weights:
                break
            band_start = epoch + 1  # the element loss stopped improving: the band-energy terms join now
    elapsed = time.perf_counter() - started
    if best_state is None:
        raise TrainingDiverged(
            f"{target} model (seed {seed}): the loss was not finite from the first epoch "
            f"(train {history[0]['train_loss'] if history else float('nan'):.3g}); lower hamiltonian.learning_rate "
            f"or check the labels for NaN/inf")
    model.load_state_dict(best_state)
    model.eval()
    if invariant and model.uses_potentials:
        # The loss left each cell's c·S free; pin the absolute energies to the training set's mean.
        shifts = cell_shifts(model, train, settings.batch_size)
        if np.isfinite(shifts).any():
            model.potential_offset.fill_(float(np.nanmean(shifts)))
    out_dir = save_model(model, out_dir)
    epochs_run = epoch + 1
    result = TrainResult(model, out_dir, best_loss, best_epoch, epochs_run, elapsed / max(epochs_run, 1), history)
    atomic_write_json(out_dir / HISTORY_FILE, {
        "target": target, "seed": seed, "best_valid_loss": best_loss, "best_epoch": best_epoch,
        "epochs_run": epochs_run, "seconds_per_epoch": result.seconds_per_epoch, "target_scale": scale,
        "potential_offset": float(model.potential_offset),
        "n_train": len(train), "n_valid": len(valid), "history": history,
    })
    return result


def _optimizer(model, settings):
    """Adam at ``learning_rate`` and its ReduceLROnPlateau schedule."""
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=settings.lr_factor, patience=settings.lr_patience, min_lr=settings.min_learning_rate)
    return optimizer, scheduler


def _check_initial(initial, basis: dict[int, str], target: str, baseline):
    """The baseline a warm start trains on (the initial model's), or a one-line refusal."""
    if initial.config.target != target:
        raise UserInputError(f"warm start: the initial model predicts {initial.config.target!r}, not {target!r}")
    if initial.layout.basis != {int(z): str(b) for z, b in basis.items()}:
        raise UserInputError(f"warm start: the initial model's basis {dict(initial.layout.basis)} is not the samples' {basis}")
    if baseline is not None and baseline is not initial.two_center:
        raise UserInputError("warm start: pass no baseline; the initial model's two-center baseline is used")
    return initial.two_center


def train_ensemble(train_samples, valid_samples, settings, out_dir: str | Path, seed: int = 0,
                   target: str = "hamiltonian", size: int | None = None, progress: bool = True,
                   baseline=None) -> list[TrainResult]:
    """``size`` (default ``settings.ensemble_size``) models with seeds ``seed, seed+1, ...``
    in ``out_dir/member-K``, sharing one two-center ``baseline`` when given."""
    size = size or settings.ensemble_size
    return [
        train_model(train_samples, valid_samples, settings, Path(out_dir) / f"member-{k}", seed + k, target, progress,
                    baseline)
        for k in range(size)
    ]


def load_ensemble(directory: str | Path, device: str = "cpu") -> list:
    """Every ``member-K`` checkpoint under ``directory``, in order."""
    from thermodefect.hamiltonian.checkpoint import load_model

    members = sorted(Path(directory).glob("member-*"), key=lambda p: int(p.name.split("-")[1]) if p.name.split("-")[1].isdigit() else -1)
    if not members:
        raise UserInputError(f"{directory}: no member-K model directories")
    return [load_model(m, device) for m in members]
