"""Self-contained HTML reports built from sections of text, tables and figures
(:mod:`estimators.report.html`), and the pages built on it (:mod:`estimators.report.calibrate_page`)."""
