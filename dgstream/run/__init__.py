"""The streaming commands' machinery, one phase per module (imports nothing heavy).

* `request`: what the user asked for (StreamRequest) and `prepare()`, which resolves
  and checks it into a Session without I/O;
* `api`: the streaming APIs (/v1, Flux's /v2), one row each; the model picks one;
* `sources`: the table of audio sources (kind -> opener and traits);
* `convert`: audio an API does not take as it is, made mono at a rate it takes;
* `local`: `--local` (the in-process server and offline engine) and the demo recording;
* `outputs`: the renderers (live view or writers) and the `--output` file;
* `session`: one run, startup -> pump -> shutdown;
* `router`: the client's events -> transcript -> renderers, SessionState, Outcome;
* `signals`: two-stage Ctrl-C;
* `keys`: Enter ends the turn on a Flux stream (the terminal, read in cbreak mode);
* `outcome`: exceptions -> exit statuses, error lines, `report`, the Outcome of a run;
* `serve`: `dgstream serve`; `devices`: `dgstream devices`;
* `batch`: `dgstream file --output-dir`, each file its own child stream.

`dgstream.runner` re-exports the names the command line used before this split.
"""
