"""The commands: one module per ``dqlabels`` command, each holding what the command reads, checks,
writes and says (``run_evaluate``, ``run_plan``, ``run_train``, ``predict_images``,
``run_reproduce``, ``run_generate``, ``run_check_dataset``, ``run_split``, ``run_tsne``,
``launch``), and returning the text it prints. The top layer: it imports every package below
and none imports it. ``cli/`` (``dqlabels_cli``) parses the options and prints; the libraries
below print nothing and parse no options."""
