from distill.convert.cli import main

main()
