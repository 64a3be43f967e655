from trickstack.cli.app import main

main()
