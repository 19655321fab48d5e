"""What the user reads, built once for every front end: the app, the shell and the reports.

Text from users (scenario names, paths, stored fields) goes through `text.clean` or `text.plain`
here and nowhere else; numbers through `numbers`; table columns from `columns`; event lines from
`describe`; chart series from `charts`. Nothing here imports TensorFlow or Textual.
"""
