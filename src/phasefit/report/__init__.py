"""Reports of finished runs: figures (PNG and PDF), LaTeX / Markdown / CSV tables and `index.html`.

The top layer below the command line: it reads a fit directory (`results.load_run`) or an
intervention directory (`intervention.read_intervention`) and never samples. `write_report` is the
entry point (`phasefit report DIR`).
"""
