"""Figures, CSV tables and the HTML report of a run, built from its results files.

Tables come from ``results/summary.json``; every figure is drawn through
:data:`thermodefect.report.figures.REGISTRY` from the results file it names.
"""

from thermodefect.report.html import write_report
from thermodefect.report.summary import ReportInputError, load_summary, write_result_csvs

__all__ = ["ReportInputError", "load_summary", "write_report", "write_result_csvs"]
