from dqlabels_cli.main import main

main()
