from dqlabels_cli.main import run

run()
