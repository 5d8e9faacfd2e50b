"""Report rendering: plots (`plots`), a Markdown summary (`markdown`) and a self-contained HTML
report (`html.render_report`).

A plain library (no dagster): the `benchmark_report` asset calls `render_report` with the
current result rows and attaches the Markdown to its materialisation. Nothing is imported here:
the skillsets asset needs only `report.coverage`, and matplotlib (through `plots`) would add
~0.4 s to loading the definitions.
"""
