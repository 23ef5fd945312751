"""thermodefect: temperature-dependent electronic structure of point defects.

Machine-learned force fields (MACE) drive molecular dynamics; an
E(3)-equivariant model predicts the Hamiltonian of each snapshot; band gaps
and defect levels follow with their thermal averages and broadening.
"""

__version__ = "0.1.0"
