"""Figures, CSV tables and the HTML report of a run, built from ``results/summary.json``."""

from thermodefect.report.html import write_report
from thermodefect.report.summary import ReportInputError, load_summary, write_result_csvs

__all__ = ["ReportInputError", "load_summary", "write_report", "write_result_csvs"]
