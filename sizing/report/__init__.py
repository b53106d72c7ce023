"""Reports of plans: planner-facing tables, matplotlib figures, HTML, XLSX and CSV.

Every file is written atomically (:mod:`sizing.files`): a reader sees the
old file or the complete new one, never a partial one.
"""

from sizing.report.html import batch_html, plan_html
from sizing.report.tables import deployment_table, kpi_table, links_table, summary_table
from sizing.report.xlsx import write_xlsx

__all__ = [
    "batch_html",
    "deployment_table",
    "kpi_table",
    "links_table",
    "plan_html",
    "summary_table",
    "write_xlsx",
]
