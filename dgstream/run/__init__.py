"""The streaming commands' machinery, one phase per module (imports nothing heavy).

* `outcome`: exceptions -> exit statuses, error lines, `report`;
* `serve`: `dgstream devices` and `dgstream serve`.
"""
