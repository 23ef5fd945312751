"""Reference calculators ("oracles") and labelling many structures with them.

Heavy codes (tblite, GPAW) are imported only when their reference is built.
"""

from thermodefect.reference.base import Label, Reference
from thermodefect.reference.registry import get_reference, known_references, register_reference

__all__ = ["Label", "Reference", "get_reference", "known_references", "register_reference"]
