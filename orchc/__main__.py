from orchc.cli import main

main()
