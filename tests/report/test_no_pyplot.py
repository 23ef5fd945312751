"""Library code never imports pyplot nor switches the matplotlib backend."""

import subprocess
import sys

CHECK = """
import sys
import matplotlib
backend = dict.__getitem__(matplotlib.rcParams, 'backend')  # unresolved: get_backend() would import pyplot
import thermodefect.electronic, thermodefect.forcefield, thermodefect.report
from thermodefect.report.figures import band_structure_figure
band_structure_figure({"energies_ev": [[0.0], [1.0]], "distance_per_angstrom": [0.0, 1.0]}).savefig(sys.argv[1])
assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'
assert dict.__getitem__(matplotlib.rcParams, 'backend') == backend, 'backend switched'
print('ok')
"""


def test_importing_physics_and_report_does_not_import_pyplot(tmp_path):
    result = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path / "f.png")], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
